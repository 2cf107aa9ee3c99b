"""The CPU engine: the recipe's Llama (scaled down) in Hugging Face `transformers`, a plain PyTorch loop.

Same config and data files as the GPU engine. Gradient accumulation reaches the global batch; the loss is
the token-weighted mean over the whole global batch (as Megatron computes it), so accumulation does not
change the result. Checkpoints are HF safetensors (`save_pretrained` + tokenizer) plus `trainer_state.pt`
(optimizer, scheduler, RNG, data position, step): a killed run resumes from the latest one and replays
the same samples with bitwise-identical losses. The final `export/` loads with AutoModelForCausalLM.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from infir.config import dump_yaml
from infir.recipes.config import TrainConfig
from infir.recipes.data_cpu import make_stream

#: Llama 3.2's RoPE scaling (config.json of meta-llama/Llama-3.2-1B)
LLAMA3_ROPE = {
    "rope_type": "llama3",
    "factor": 32.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192,
}


@dataclass
class TrainResult:
    run_dir: Path
    export_dir: Path
    steps: int
    tokens: int
    losses: list[float] = field(default_factory=list)  # this process's steps, in order
    resumed_from: int = 0
    seconds: float = 0.0


def lr_factor(cfg: TrainConfig, total_steps: int):
    """The recipe's schedule as a per-step factor of lr (recipes/schedule.py: warmup, then cosine/linear
    decay to min_lr, constant, or warmup-stable-decay)."""
    from infir.recipes.schedule import lr_multiplier

    s, o = cfg.schedule, cfg.optim
    warmup = s.warmup_steps if s.warmup_steps is not None else round((s.warmup_ratio or 0) * total_steps)
    return lr_multiplier(total_steps, warmup, s.style, o.min_lr / o.lr, s.decay_style, s.decay_steps)


def hf_config(cfg: TrainConfig, tokenizer: Any) -> Any:
    """The recipe's architecture as a transformers LlamaConfig (also the GPU engine's export target)."""
    from transformers import LlamaConfig

    m = cfg.model
    # Megatron pads the vocabulary the same way (make_vocab_size_divisible_by=128).
    vocab = max(m.vocab_size, math.ceil(len(tokenizer) / 128) * 128)
    return LlamaConfig(
        vocab_size=vocab,
        hidden_size=m.hidden_size,
        intermediate_size=m.ffn_hidden_size,
        num_hidden_layers=m.num_layers,
        num_attention_heads=m.num_attention_heads,
        num_key_value_heads=m.num_query_groups,
        tie_word_embeddings=m.tie_embeddings,
        rope_theta=m.rope_theta,
        rope_scaling=dict(LLAMA3_ROPE) if m.rope_scaling == "llama3" else None,
        max_position_embeddings=m.max_position_embeddings,
        rms_norm_eps=m.norm_eps,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def build_model(cfg: TrainConfig, tokenizer: Any) -> torch.nn.Module:
    from transformers import AutoModelForCausalLM, LlamaForCausalLM

    if cfg.init.kind == "checkpoint":
        return AutoModelForCausalLM.from_pretrained(init_checkpoint(cfg), dtype=torch.float32)
    if cfg.init.kind == "hf":
        if not Path(cfg.init.path or "").is_dir():
            from infir.config import ConfigError

            raise ConfigError("init.path", f"not a local Hugging Face model folder: {cfg.init.path!r}")
        return AutoModelForCausalLM.from_pretrained(cfg.init.path, dtype=torch.float32)
    config = hf_config(cfg, tokenizer)
    torch.manual_seed(cfg.seed)
    return LlamaForCausalLM(config)


def init_checkpoint(cfg: TrainConfig) -> Path:
    """init.kind=checkpoint: the earlier run's newest complete checkpoint (weights + trainer_state.pt)."""
    found = _checkpoints(Path(cfg.init.path or ""))
    if not found:
        from infir.config import ConfigError

        raise ConfigError("init.path", f"{cfg.init.path}: no checkpoints/step_* in it (run that stage first)")
    return found[-1]


def _checkpoints(run_dir: Path) -> list[Path]:
    # complete ones only: a job killed mid-save (preempted, requeued) leaves a step_N.tmp folder behind
    done = [p for p in (run_dir / "checkpoints").glob("step_*") if p.name.split("_")[1].isdigit()]
    return sorted(done, key=lambda p: int(p.name.split("_")[1]))


def fingerprint(cfg: TrainConfig, total_steps: int) -> dict[str, Any]:
    """What fixes the sample order and the model a checkpoint belongs to: resuming into anything else would
    silently read different samples after the saved position (or load mismatched weights)."""
    import hashlib

    def digest(paths: list[str]) -> str:
        h = hashlib.sha256()
        for path in paths:
            h.update(Path(path).read_bytes() if Path(path).is_file() else path.encode())
        return h.hexdigest()[:16]

    m, t = cfg.model, cfg.train
    return {
        "seq_length": t.seq_length,
        "global_batch_size": t.global_batch_size,
        "seed": cfg.seed,
        "num_samples": total_steps * t.global_batch_size,
        "data": digest([cfg.data.blend] if cfg.data.blend else list(cfg.data.sft_files)),
        "model": [m.num_layers, m.hidden_size, m.ffn_hidden_size, m.num_attention_heads, m.num_query_groups],
    }


def _save(run_dir: Path, model, tokenizer, optimizer, scheduler, step: int, samples: int, keep: int,
          print_: dict[str, Any] | None = None) -> Path:  # fmt: skip
    final = run_dir / "checkpoints" / f"step_{step:07d}"
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    state = {
        "step": step,
        "samples_consumed": samples,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": torch.get_rng_state(),
        "fingerprint": print_ or {},
    }
    torch.save(state, tmp / "trainer_state.pt")
    if final.exists():  # a step saved again after a fall-back past a corrupt copy of it: the new one wins
        shutil.rmtree(final)
    tmp.rename(final)  # a checkpoint is complete or absent: a kill mid-save leaves only a .tmp
    for old in _checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old)
    return final


def _load_latest(ckpts: list[Path], model, print_: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    """Weights and trainer state of the newest readable checkpoint: a corrupt one (truncated file, bad
    header) is skipped, with a line saying so, for the one before it. A checkpoint of another run
    (different data, batch, length, seed or model) is refused: resuming it would replay other samples."""
    from safetensors.torch import load_file

    from infir.config import ConfigError

    for latest in reversed(ckpts):
        try:
            weights = load_file(str(latest / "model.safetensors"))
            state = torch.load(latest / "trainer_state.pt", weights_only=False)
        except Exception as exc:  # noqa: BLE001 (any unreadable file: fall back, never crash the resume)
            print(
                f"WARNING: {latest} is unreadable ({type(exc).__name__}: {str(exc)[:120]}); trying the one before"
            )
            continue
        saved = state.get("fingerprint") or {}
        changed = {k: (saved[k], v) for k, v in print_.items() if k in saved and saved[k] != v}
        if changed:
            what = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in changed.items())
            raise ConfigError(
                "checkpoint.dir",
                f"{latest} belongs to a different run ({what}); resuming would read other samples after step "
                f"{state['step']}: use a new checkpoint.dir, or checkpoint.resume=false to start over",
            )
        missing, unexpected = model.load_state_dict(weights, strict=False)
        if unexpected or set(missing) - {"lm_head.weight"}:  # a tied lm_head is not stored separately
            raise ConfigError(
                "checkpoint.dir", f"{latest}: checkpoint does not match the model ({missing=}, {unexpected=})"
            )
        return latest, state
    raise ConfigError("checkpoint.dir", f"no readable checkpoint among {[c.name for c in ckpts]}")


def micro_loss_sum(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Summed next-token cross entropy over labelled tokens, and their count (labels are pre-shifted)."""
    kwargs = {k: v for k, v in batch.items() if k in ("position_ids", "attention_mask")}
    logits = model(input_ids=batch["input_ids"], **kwargs).logits.float()
    labels = batch["labels"]
    loss = torch.nn.functional.cross_entropy(
        logits.view(-1, logits.shape[-1]), labels.view(-1), ignore_index=-100, reduction="sum"
    )
    return loss, int((labels != -100).sum())


def train(cfg: TrainConfig, stop_after_step: int | None = None) -> TrainResult:
    """Train `cfg` on CPU. `stop_after_step` ends the process abruptly after that step (no final save),
    the way a killed job would; the next call resumes from the latest checkpoint."""
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)  # resume must replay bitwise; restored for the caller after
    try:
        return _train(cfg, stop_after_step)
    finally:
        torch.use_deterministic_algorithms(previous)


def _train(cfg: TrainConfig, stop_after_step: int | None) -> TrainResult:
    t0 = time.time()
    run_dir = Path(cfg.checkpoint.dir)
    tokenizer = _tokenizer(cfg)
    stream, total = make_stream(cfg, tokenizer)
    model = build_model(cfg, tokenizer)
    # written once the inputs have loaded: a run that fails on them leaves no folder behind
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(dump_yaml(cfg))
    print_ = fingerprint(cfg, total)
    optimizer, scheduler = _optimizer(cfg, model, total)
    step, samples = _resume(cfg, model, optimizer, scheduler, print_)
    metrics_path = run_dir / "metrics.jsonl"
    result = TrainResult(run_dir, run_dir / "export", total, 0, resumed_from=step)
    gbs, seq = cfg.train.global_batch_size, cfg.train.seq_length
    model.train()
    start_step, tick = step, time.time()
    while step < total:
        lr = optimizer.param_groups[0]["lr"]
        loss = _optimizer_step(cfg, model, optimizer, stream, samples)
        scheduler.step()
        step, samples = step + 1, samples + gbs
        result.losses.append(loss)
        result.tokens += gbs * seq
        with metrics_path.open("a") as fh:
            fh.write(json.dumps({"step": step, "loss": loss, "lr": lr, "tokens": step * gbs * seq,
                                 "samples": [samples - gbs, samples]}) + "\n")  # fmt: skip
        if step % cfg.train.log_interval == 0 or step == total:
            rate = (step - start_step) * gbs * seq / max(time.time() - tick, 1e-9)
            eta = (total - step) * gbs * seq / max(rate, 1e-9)
            print(
                f"[{cfg.name}] step {step}/{total} loss {loss:.4f} lr {lr:.3e} {rate:,.0f} tok/s eta {eta:.0f}s"
            )
        if step % cfg.checkpoint.save_interval == 0 or step == total:
            _save(
                run_dir,
                model,
                tokenizer,
                optimizer,
                scheduler,
                step,
                samples,
                cfg.checkpoint.keep_last,
                print_,
            )
        if stop_after_step is not None and step >= stop_after_step and step < total:
            result.seconds = time.time() - t0
            return result
    _export(model, tokenizer, result.export_dir)
    result.seconds = time.time() - t0
    first = result.losses[0] if result.losses else float("nan")
    last = result.losses[-1] if result.losses else float("nan")
    print(f"[{cfg.name}] done: {step} steps, loss {first:.4f} -> {last:.4f}, {result.seconds:.1f}s, "
          f"export {result.export_dir}")  # fmt: skip
    return result


def _resume(
    cfg: TrainConfig, model: torch.nn.Module, optimizer: Any, scheduler: Any, print_: Any
) -> tuple[int, int]:
    """(step, samples consumed) of the newest readable checkpoint of this run, its model, optimizer,
    scheduler and RNG restored; (0, 0) for a fresh run. metrics.jsonl keeps only the steps the checkpoint
    covers: the replayed ones are written again."""
    run_dir = Path(cfg.checkpoint.dir)
    step, samples = 0, 0
    ckpts = _checkpoints(run_dir) if cfg.checkpoint.resume else []
    if ckpts:
        latest, state = _load_latest(ckpts, model, print_)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        step, samples = state["step"], state["samples_consumed"]
        print(f"resuming from {latest} (step {step}, {samples} samples consumed)")
    metrics_path = run_dir / "metrics.jsonl"
    old = metrics_path.read_text().splitlines() if metrics_path.exists() and step else []
    metrics_path.write_text("".join(ln + "\n" for ln in old if json.loads(ln)["step"] <= step))
    return step, samples


def _tokenizer(cfg: TrainConfig) -> Any:
    from transformers import AutoTokenizer

    from infir.config import ConfigError

    tok_path = cfg.data.tokenizer or (cfg.init.path if cfg.init.kind == "hf" else None)
    if not tok_path:
        raise ConfigError("data.tokenizer", "the CPU engine needs a local tokenizer folder")
    if not Path(tok_path).is_dir():
        raise ConfigError("data.tokenizer", f"{tok_path}: not a local tokenizer folder")
    return AutoTokenizer.from_pretrained(tok_path)


def _optimizer(cfg: TrainConfig, model: torch.nn.Module, total: int) -> tuple[Any, Any]:
    """AdamW (no decay on norms and biases) and the recipe's LR schedule; `init.kind=checkpoint` continues
    the earlier run's Adam moments, with this run's hyper-parameters, LR and step count."""
    o = cfg.optim
    decay = [p for _, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for _, p in model.named_parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": o.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=o.lr, betas=(o.adam_beta1, o.adam_beta2), eps=o.adam_eps,
    )  # fmt: skip
    if cfg.init.kind == "checkpoint":
        moments = torch.load(init_checkpoint(cfg) / "trainer_state.pt", weights_only=False)["optimizer"]
        optimizer.load_state_dict(moments)  # restores the groups' hyper-parameters too: ours win below
        for group, wd in zip(optimizer.param_groups, (o.weight_decay, 0.0)):
            group.update(lr=o.lr, initial_lr=o.lr, betas=(o.adam_beta1, o.adam_beta2), eps=o.adam_eps,
                         weight_decay=wd)  # fmt: skip
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(cfg, total))


def _optimizer_step(
    cfg: TrainConfig, model: torch.nn.Module, optimizer: Any, stream: Any, samples: int
) -> float:
    """One global batch (samples [samples, samples + global batch)) in micro batches: the loss is summed
    over tokens and divided once by the batch's label tokens, so accumulation equals one big batch."""
    gbs, mbs = cfg.train.global_batch_size, cfg.train.micro_batch_size
    optimizer.zero_grad(set_to_none=True)
    micro = [
        stream.batch(list(range(i, min(i + mbs, samples + gbs)))) for i in range(samples, samples + gbs, mbs)
    ]
    n_tokens = sum(int((b["labels"] != -100).sum()) for b in micro)
    total_loss = 0.0
    for b in micro:
        loss_sum, _ = micro_loss_sum(model, b)
        (loss_sum / max(n_tokens, 1)).backward()
        total_loss += loss_sum.item()
    if cfg.optim.clip_grad > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.clip_grad)
    optimizer.step()
    return total_loss / max(n_tokens, 1)


def _export(model: torch.nn.Module, tokenizer: Any, export_dir: Path) -> None:
    """HF export, written aside and renamed: a reader (the next stage, eval) never sees half an export."""
    staging = export_dir.with_name(export_dir.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    shutil.rmtree(export_dir, ignore_errors=True)
    staging.rename(export_dir)
