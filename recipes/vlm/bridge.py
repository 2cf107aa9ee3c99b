"""Megatron-Bridge adapter for the VLM stages (GPU engine, inside the NVIDIA container).

The model is our LLaVA checkpoint (`infir vlm assemble`: SigLIP-So400m + MLP projector + InfiR-1B-Base),
converted by the bridge in `bridge_model.py` (Bridge has none for LLaVA); this module builds the stage's
ConfigContainer around it and runs `finetune` with Bridge's VLM step. Like the LLM adapter
(recipes/bridge.py) it builds OptimizerConfig/SchedulerConfig directly rather than through Bridge's
`_sft_common_vlm()`: that helper's optimizer sets weight decay 0.033 behind the recipe's back, and its
module pulls in Bridge's diffusion recipes. `bridge_plan(cfg)` is the stage's settings as plain data
(dotted ConfigContainer attribute -> value), tested on CPU; the Bridge build check (tests/bridge) builds
the real container from it and checks every key lands.

Data: the stage's `data.train` rows ({image, text} captions or {image, messages} chats, the CPU engine's
format) are staged as Bridge's preloaded-conversation JSONL (HF processor schema: the image as the first
part of the first user turn, absolute path) and read by `PreloadedVLMConversationProvider` with the
checkpoint's own processor. `vision.*`, `projector.*` and `llm.{hidden,...}` describe the CPU twin; a
Bridge run takes every dimension from the checkpoint.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from infir.config import ConfigError
from infir.recipes.bridge import require_bridge
from infir.recipes.vlm.config import VLMTrainConfig
from infir.recipes.vlm.jsonl import iter_rows


def to_conversation(row: dict, base: Path, where: str) -> dict:
    """One CPU-engine row -> {"conversation": [...]} in the HF processor schema Bridge passes through."""
    if "image" not in row or not ({"text", "messages"} & row.keys()):
        raise ConfigError(where, "a row needs 'image' and 'text' or 'messages'")
    image = Path(row["image"]) if Path(row["image"]).is_absolute() else base / row["image"]
    if not image.is_file():
        raise ConfigError(where, f"image not found: {image}")
    picture = {"type": "image", "image": str(image.resolve())}
    if "text" in row:  # a caption: the image alone prompts, the caption is the answer
        return {"conversation": [{"role": "user", "content": [picture]},
                                 {"role": "assistant", "content": [{"type": "text", "text": str(row["text"])}]}]}  # fmt: skip
    turns, placed = [], False
    for m in row["messages"]:
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise ConfigError(where, "bad 'messages': each needs role and content")
        parts = [{"type": "text", "text": str(m["content"])}]
        if m["role"] == "user" and not placed:
            parts, placed = [picture, *parts], True
        turns.append({"role": m["role"], "content": parts})
    if not placed:
        raise ConfigError(where, "a chat row needs a user turn to carry the image")
    return {"conversation": turns}


def bridge_data_path(cfg: VLMTrainConfig) -> Path:
    return Path(cfg.checkpoint.save or f"runs/vlm/{cfg.name}") / "bridge_data" / "train.jsonl"


def stage_bridge_data(cfg: VLMTrainConfig) -> Path:
    """Convert data.train for Bridge; a bad row fails naming file:line (nothing is silently skipped)."""
    src = Path(cfg.data.train or "")
    if not src.is_file():
        raise ConfigError("data.train", f"training JSONL not found: {cfg.data.train!r}")
    out = bridge_data_path(cfg)
    out.parent.mkdir(parents=True, exist_ok=True)
    # every torchrun rank stages the same file: a per-process temp name keeps the atomic replace race-free
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    with tmp.open("w") as fh:
        for where, row in iter_rows(src):
            fh.write(json.dumps(to_conversation(row, src.parent, where)) + "\n")
    tmp.replace(out)
    return out


def _abs(path: str | None) -> str | None:
    return str(Path(path).resolve()) if path else None


def bridge_plan(cfg: VLMTrainConfig) -> dict[str, Any]:
    """ConfigContainer settings for this stage; the freeze flags are Megatron-Bridge's VLM provider flags."""
    warmup = int(cfg.optim.warmup_ratio * cfg.steps)
    return {
        "model.freeze_language_model": cfg.freeze.llm,
        "model.freeze_vision_model": cfg.freeze.vision,
        "model.freeze_vision_projection": cfg.freeze.projector,
        "model.seq_length": cfg.data.seq_length,
        "dataset.seq_length": cfg.data.seq_length,
        # the checkpoint's own processor: SigLIP's image transform, the tokenizer with <image>, the template
        "dataset.hf_processor_path": _abs(cfg.llm.init_path),
        "dataset.train_data_path": str(bridge_data_path(cfg)),
        "train.train_iters": cfg.steps,
        "train.global_batch_size": cfg.global_batch_size,
        "train.micro_batch_size": cfg.micro_batch_size,
        "optimizer.lr": cfg.optim.lr,
        "optimizer.min_lr": cfg.optim.min_lr,
        "optimizer.weight_decay": cfg.optim.weight_decay,
        # megatron-core writes the scheduler's weight decay into every param group: keep them equal
        "scheduler.start_weight_decay": cfg.optim.weight_decay,
        "scheduler.end_weight_decay": cfg.optim.weight_decay,
        "optimizer.adam_beta1": cfg.optim.beta1,
        "optimizer.adam_beta2": cfg.optim.beta2,
        "optimizer.clip_grad": cfg.optim.clip_grad,
        "scheduler.lr_warmup_iters": warmup,
        "scheduler.lr_decay_iters": cfg.steps,
        # absolute: the container's workdir is throwaway, and the next stage must find these again
        "checkpoint.save": _abs(cfg.checkpoint.save),
        # an interrupted stage resumes from its own latest checkpoint (Bridge starts fresh when none) ...
        "checkpoint.load": _abs(cfg.checkpoint.save),
        # ... and a new one starts from the previous stage's weights, not its optimizer state
        "checkpoint.pretrained_checkpoint": _abs(cfg.checkpoint.load),
        "logger.tensorboard_dir": _abs(Path(cfg.checkpoint.save or f"runs/vlm/{cfg.name}") / "tb"),
        "rng.seed": cfg.seed,
    }


def _set(obj: Any, dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for name in parents:
        obj = getattr(obj, name)
    setattr(obj, leaf, value)


def build_container(cfg: VLMTrainConfig) -> Any:
    """The Megatron-Bridge ConfigContainer for this stage (needs Megatron-Bridge importable)."""
    require_bridge(cfg)
    if not cfg.llm.init_path or not (Path(cfg.llm.init_path) / "config.json").is_file():
        raise ConfigError(
            "llm.init_path",
            f"{cfg.llm.init_path!r} is not a HF LLaVA checkpoint folder: build one with `infir vlm assemble`",
        )
    if cfg.checkpoint.load and not Path(cfg.checkpoint.load).is_dir():
        raise ConfigError(
            "checkpoint.load", f"{cfg.checkpoint.load} does not exist: run the previous stage first"
        )
    from megatron.bridge import AutoBridge
    from megatron.bridge.data.vlm_datasets.preloaded_provider import PreloadedVLMConversationProvider
    from megatron.bridge.training import config as bc

    import infir.recipes.vlm.bridge_model  # noqa: F401  (registers the LLaVA bridge with AutoBridge)

    stage_bridge_data(cfg)
    provider = AutoBridge.from_hf_pretrained(cfg.llm.init_path).to_megatron_provider(load_weights=True)
    container = bc.ConfigContainer(
        model=provider,
        train=bc.TrainingConfig(train_iters=cfg.steps, global_batch_size=cfg.global_batch_size,
                                micro_batch_size=cfg.micro_batch_size),
        validation=bc.ValidationConfig(eval_iters=0, eval_interval=None),
        optimizer=bc.OptimizerConfig(optimizer="adam", bf16=True, fp16=False, use_distributed_optimizer=True),
        scheduler=bc.SchedulerConfig(lr_warmup_init=0.0, lr_decay_style="cosine", weight_decay_incr_style="constant",
                                     override_opt_param_scheduler=True),
        # no grad/param overlap: parts of the model are frozen, as in Bridge's VLM recipes
        ddp=bc.DistributedDataParallelConfig(use_distributed_optimizer=True, overlap_grad_reduce=False,
                                             overlap_param_gather=False, grad_reduce_in_fp32=True,
                                             average_in_collective=True, check_for_nan_in_grad=True),
        dataset=PreloadedVLMConversationProvider(seq_length=cfg.data.seq_length, dataloader_type="single",
                                                 num_workers=2, pack_sequences_in_batch=False),
        logger=bc.LoggerConfig(log_interval=10),
        # a VLM reads text through its processor (dataset.hf_processor_path), so Megatron's tokenizer is null
        tokenizer=bc.TokenizerConfig(tokenizer_type="NullTokenizer", vocab_size=provider.vocab_size),
        checkpoint=bc.CheckpointConfig(save_interval=500, ckpt_format="torch_dist", fully_parallel_save=True),
        rng=bc.RNGConfig(seed=cfg.seed),
        mixed_precision="bf16_mixed",
    )  # fmt: skip
    for key, value in bridge_plan(cfg).items():
        _set(container, key, value)
    return container


def validated_container(cfg: VLMTrainConfig) -> Any:
    """build_container + what finetune() does first (mixed precision, DP, validate) at the stage's DP."""
    require_bridge(cfg)
    from megatron.bridge.training.config import runtime_config_update

    os.environ.setdefault("WORLD_SIZE", str(cfg.dp))
    container = build_container(cfg)
    runtime_config_update(container)
    return container


def train(cfg: VLMTrainConfig) -> Any:
    if cfg.engine != "megatron":
        raise ConfigError("engine", f"bridge.train runs engine=megatron, got {cfg.engine!r}")
    container = build_container(cfg)
    from megatron.bridge.training.finetune import finetune
    from megatron.bridge.training.vlm_step import forward_step

    return finetune(config=container, forward_step_func=forward_step)
