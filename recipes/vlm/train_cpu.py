"""CPU engine for the VLM stages: the freeze schedule via requires_grad, AdamW over trainable params only.

`train(cfg)` builds the tiny VLM (or loads the previous stage's checkpoint), freezes the parts the stage
freezes, trains `cfg.steps` optimizer steps on `cfg.data.train`, and saves the stage so the next one
starts from it. It also records, per part, whether its weights changed: a frozen part that moved is a bug.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from infir.config import ConfigError, dump_yaml
from infir.recipes.schedule import lr_multiplier
from infir.recipes.vlm.config import VLMTrainConfig
from infir.recipes.vlm.jsonl import iter_rows
from infir.recipes.vlm.model_cpu import (
    IGNORE,
    ByteTokenizer,
    TinyVLM,
    load_checkpoint,
    load_image,
    save_checkpoint,
)


@dataclass
class TrainResult:
    name: str
    steps: int
    losses: list[float]
    trainable: dict[str, int]  # part -> trainable parameter count (0 = frozen)
    changed: dict[str, bool]  # part -> did any weight change
    checkpoint: str | None
    seconds: float
    extra: dict = field(default_factory=dict)


def read_examples(cfg: VLMTrainConfig) -> list[dict]:
    """JSONL rows {"image", "text"} (caption: loss on all of it) or {"image", "messages"} (loss on answers)."""
    path = cfg.data.train
    if not path or not Path(path).is_file():
        raise ConfigError("data.train", f"training JSONL not found: {path!r}")
    base, tok = Path(path).parent, ByteTokenizer()
    out = []
    for where, row in iter_rows(path):
        if "image" not in row or not ({"text", "messages"} & row.keys()):
            raise ConfigError(where, "a row needs 'image' and 'text' or 'messages'")
        try:
            prompt, answer = _prompt_answer(row)
        except (KeyError, TypeError) as exc:
            raise ConfigError(where, f"bad 'messages' (each needs role and content): {exc}") from None
        p, a = [tok.bos_id, *tok.encode(prompt)], [*tok.encode(answer), tok.eos_id]
        ids = (p + a)[: cfg.data.max_text_tokens]
        labels = ([IGNORE] * len(p) + a)[: cfg.data.max_text_tokens]
        image = base / row["image"]
        if not image.is_file():
            raise ConfigError(where, f"image not found: {image}")
        out.append({"pixels": load_image(image, cfg.vision.image_size), "ids": ids, "labels": labels})
    if not out:
        raise ConfigError("data.train", f"{path} holds no examples")
    return out


def _prompt_answer(row: dict) -> tuple[str, str]:
    """Caption rows train on the whole text; chat rows on the last assistant turn, prompted by every turn
    before it in order, earlier assistant answers included (a multi-turn row's context is the whole dialogue)."""
    if "text" in row:
        return "", str(row["text"])
    msgs = row["messages"]
    last = max((i for i, m in enumerate(msgs) if m["role"] == "assistant"), default=None)
    if last is None:
        return "\n".join(m["content"] for m in msgs) + "\n", ""
    return "\n".join(m["content"] for m in msgs[:last]) + "\n", msgs[last]["content"]


def collate(rows: list[dict]) -> dict[str, torch.Tensor]:
    width = max(len(r["ids"]) for r in rows)
    ids = torch.full((len(rows), width), ByteTokenizer.pad_id)
    labels = torch.full((len(rows), width), IGNORE)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r["ids"])] = torch.tensor(r["ids"])
        labels[i, : len(r["labels"])] = torch.tensor(r["labels"])
        mask[i, : len(r["ids"])] = 1
    return {
        "pixels": torch.stack([r["pixels"] for r in rows]),
        "input_ids": ids,
        "labels": labels,
        "attention_mask": mask,
    }


def init_model(cfg: VLMTrainConfig) -> TinyVLM:
    """The stage's starting weights: seeded random init, then the previous stage's checkpoint if any."""
    if cfg.vision.path:
        raise ConfigError(
            "vision.path", "the CPU engine trains a tiny ViT; a SigLIP checkpoint needs engine=megatron"
        )
    torch.manual_seed(cfg.seed)
    model = TinyVLM(cfg)
    if cfg.checkpoint.load:
        load_checkpoint(model, cfg.checkpoint.load)
    return model


def apply_freeze(model: TinyVLM, cfg: VLMTrainConfig) -> dict[str, int]:
    counts = {}
    for name, part in model.groups().items():
        frozen = getattr(cfg.freeze, name)
        part.requires_grad_(not frozen)
        counts[name] = 0 if frozen else sum(p.numel() for p in part.parameters())
    return counts


def train(cfg: VLMTrainConfig) -> TrainResult:
    if cfg.engine != "cpu":
        raise ConfigError("engine", f"train_cpu runs engine=cpu, got {cfg.engine!r} (use recipes.vlm.bridge)")
    t0 = time.perf_counter()
    examples = read_examples(cfg)
    model = init_model(cfg)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    trainable = apply_freeze(model, cfg)
    params = [p for p in model.parameters() if p.requires_grad]
    o = cfg.optim
    opt = torch.optim.AdamW(params, lr=o.lr, betas=(o.beta1, o.beta2), weight_decay=o.weight_decay)
    # linear warmup, then cosine to min_lr: the LLM trainer's schedule function
    lr_at = lr_multiplier(cfg.steps, int(o.warmup_ratio * cfg.steps), "cosine", o.min_lr / o.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    g = torch.Generator().manual_seed(cfg.seed)
    accum = cfg.global_batch_size // cfg.micro_batch_size
    losses = []
    model.train()
    for step in range(cfg.steps):
        opt.zero_grad(set_to_none=True)
        order = torch.randint(len(examples), (cfg.global_batch_size,), generator=g).tolist()
        total = 0.0
        for m in range(accum):
            batch = collate(
                [examples[i] for i in order[m * cfg.micro_batch_size : (m + 1) * cfg.micro_batch_size]]
            )
            loss = model(**batch) / accum
            loss.backward()
            total += loss.item()
        if o.clip_grad:
            torch.nn.utils.clip_grad_norm_(params, o.clip_grad)
        opt.step()
        sched.step()
        losses.append(total)
        rate = (step + 1) / (time.perf_counter() - t0)
        print(
            f"[{cfg.name}] step {step + 1}/{cfg.steps} loss {total:.4f} lr {sched.get_last_lr()[0]:.2e} "
            f"({rate:.1f} steps/s, eta {(cfg.steps - step - 1) / rate:.0f}s)",
            flush=True,
        )
    after = model.state_dict()
    changed = {}
    for name in model.groups():
        keys = [k for k in before if k.startswith(name + ".")]
        changed[name] = any(not torch.equal(before[k], after[k]) for k in keys)
    ckpt = None
    if cfg.checkpoint.save:
        folder = Path(cfg.checkpoint.save)
        ckpt = str(save_checkpoint(model, folder).parent)
        (folder / "config.yaml").write_text(dump_yaml(cfg))
        (folder / "trainer_state.json").write_text(
            json.dumps({"steps": cfg.steps, "losses": losses}, indent=1)
        )
    result = TrainResult(cfg.name, cfg.steps, losses, trainable, changed, ckpt, time.perf_counter() - t0)
    print(
        f"[{cfg.name}] done in {result.seconds:.1f}s | loss {losses[0]:.3f} -> {losses[-1]:.3f} | "
        + " | ".join(f"{k}: {'train' if trainable[k] else 'frozen'} changed={changed[k]}" for k in changed)
    )
    return result
