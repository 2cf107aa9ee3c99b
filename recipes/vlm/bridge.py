"""Megatron-Bridge adapter for the VLM stages (GPU engine, inside the NVIDIA container).

`bridge_plan(cfg)` is the whole mapping as plain data (dotted ConfigContainer attribute -> value), so it is
tested on CPU; `train(cfg)` imports Megatron-Bridge lazily, builds the VLM SFT ConfigContainer the way its
Qwen2.5-VL recipes do (`_sft_common_vlm()` + a provider from `AutoBridge`), applies the plan and runs
`finetune`. Megatron-Bridge has no SigLIP + Llama provider of its own: `llm.init_path` must be a HF
LLaVA-style checkpoint (SigLIP-So400m + MLP projector + InfiR-1B-Base) that AutoBridge can read.

Data: the stage's `data.train` rows ({image, text} captions or {image, messages} chats, the CPU engine's
format) are staged as Bridge's preloaded-conversation JSONL (HF processor schema: the image as the first
part of the first user turn, absolute path) and read by `PreloadedVLMConversationProvider`.
`vision.path` and `projector.hidden` describe how that checkpoint was assembled; a Bridge run takes the
vision tower and projector from the checkpoint itself.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from infir.config import ConfigError
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
        "dataset.hf_processor_path": cfg.llm.init_path,
        "dataset.train_data_path": str(bridge_data_path(cfg)),
        "train.train_iters": cfg.steps,
        "train.global_batch_size": cfg.global_batch,
        "train.micro_batch_size": cfg.micro_batch,
        "optimizer.lr": cfg.optim.lr,
        "optimizer.min_lr": cfg.optim.min_lr,
        "optimizer.weight_decay": cfg.optim.weight_decay,
        "optimizer.adam_beta1": cfg.optim.beta1,
        "optimizer.adam_beta2": cfg.optim.beta2,
        "optimizer.clip_grad": cfg.optim.grad_clip,
        "scheduler.lr_warmup_iters": warmup,
        "scheduler.lr_decay_iters": cfg.steps,
        # absolute: the container's workdir is throwaway, and the next stage must find these again
        "checkpoint.save": _abs(cfg.checkpoint.save),
        # the next stage starts from the previous one's weights, not its optimizer state
        "checkpoint.pretrained_checkpoint": _abs(cfg.checkpoint.load),
        "rng.seed": cfg.seed,
    }


def _set(obj: Any, dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for name in parents:
        obj = getattr(obj, name)
    setattr(obj, leaf, value)


def build_container(cfg: VLMTrainConfig) -> Any:
    """The Megatron-Bridge ConfigContainer for this stage (needs Megatron-Bridge importable)."""
    if not cfg.llm.init_path:
        raise ConfigError("llm.init_path", "the Megatron engine needs a local HF VLM checkpoint")
    try:
        from megatron.bridge import AutoBridge
        from megatron.bridge.recipes.common import _sft_common_vlm
    except ImportError as exc:
        raise ConfigError(
            "engine",
            f"Megatron-Bridge is not importable here ({exc}); run engine=megatron "
            "inside the NVIDIA container (containers/) or use the *_tiny recipes on CPU",
        ) from None
    from megatron.bridge.data.vlm_datasets.preloaded_provider import PreloadedVLMConversationProvider

    stage_bridge_data(cfg)
    container = _sft_common_vlm()
    container.model = AutoBridge.from_hf_pretrained(cfg.llm.init_path).to_megatron_provider(load_weights=True)
    # our stage data, not the recipe's default HF dataset; the plan below fills its fields
    container.dataset = PreloadedVLMConversationProvider(seq_length=cfg.data.seq_length)
    for key, value in bridge_plan(cfg).items():
        if value is not None:
            _set(container, key, value)
    return container


def train(cfg: VLMTrainConfig) -> Any:
    if cfg.engine != "megatron":
        raise ConfigError("engine", f"bridge.train runs engine=megatron, got {cfg.engine!r}")
    container = build_container(cfg)
    from megatron.bridge.training.finetune import finetune
    from megatron.bridge.training.vlm_step import forward_step

    return finetune(config=container, forward_step_func=forward_step)
