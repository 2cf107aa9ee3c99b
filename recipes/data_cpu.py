"""Batches for the CPU engine, addressed by a global sample index so a resumed run reads on exactly.

Pretrain/anneal: the blend YAML's Megatron prefixes through megatron-core's BlendedMegatronDatasetBuilder
+ GPTDataset (infir.data.megatron.gpt_datasets), the same datasets Megatron-Bridge builds on GPUs; their
order is fixed by the seed. SFT: chat JSONL packed by recipes/sft_data.py; epoch e visits the packs in a
seeded permutation. Either way step s reads samples [s*G, (s+1)*G) of one deterministic stream, so the data
position saved in a checkpoint is just the number of samples consumed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from infir.config import ConfigError
from infir.recipes.config import TrainConfig
from infir.recipes.sft_data import IGNORE, block_causal_mask, build_packs


class PretrainStream:
    """Samples of the blended GPTDataset; `num_samples` is what megatron-core sizes its indices for."""

    def __init__(self, cfg: TrainConfig, num_samples: int):
        from infir.data.megatron import gpt_datasets

        if not cfg.data.blend or not Path(cfg.data.blend).is_file():
            raise ConfigError(
                "data.blend", f"blend YAML not found: {cfg.data.blend!r} (write one with infir mix)"
            )
        if not cfg.data.tokenizer:
            raise ConfigError("data.tokenizer", "the CPU engine needs a local tokenizer folder")
        from infir.data.megatron import check_prefix
        from infir.data.mix import Blend

        for i, prefix in enumerate(Blend.load(cfg.data.blend).megatron_blend()[0]):
            check_prefix(prefix, f"{cfg.data.blend}:blend[{i}]")
        train, _, _ = gpt_datasets(
            cfg.data.blend,
            cfg.data.tokenizer,
            cfg.train.seq_length,
            [num_samples, 0, 0],
            seed=cfg.seed,
            split=cfg.data.split,
        )
        self.dataset = train
        self.num_samples = num_samples

    def __len__(self) -> int:
        return self.num_samples

    def batch(self, indices: list[int]) -> dict[str, torch.Tensor]:
        items = [self.dataset[i] for i in indices]
        tokens = torch.stack([torch.as_tensor(it["tokens"]) for it in items]).long()
        labels = torch.stack([torch.as_tensor(it["labels"]) for it in items]).long()
        loss_mask = torch.stack([torch.as_tensor(it["loss_mask"]) for it in items])
        labels = torch.where(loss_mask > 0, labels, torch.full_like(labels, IGNORE))
        return {"input_ids": tokens, "labels": labels}


class SFTStream:
    """Packed chat samples repeated for `epochs`, each epoch in its own seeded order."""

    def __init__(self, cfg: TrainConfig, tokenizer: Any, epochs: int):
        self.packs = build_packs(
            cfg.data.sft_files, tokenizer, cfg.train.seq_length, cfg.sft.packing, cfg.sft.mask_prompt
        )
        n = len(self.packs)
        self.order = np.concatenate(
            [np.random.default_rng(cfg.seed + e).permutation(n) for e in range(epochs)]
        ).astype(np.int64)

    def __len__(self) -> int:
        return len(self.order)

    def batch(self, indices: list[int]) -> dict[str, torch.Tensor]:
        packs = [self.packs[self.order[i]] for i in indices]
        seg = np.stack([p.segment_ids for p in packs])
        return {
            "input_ids": torch.from_numpy(np.stack([p.input_ids for p in packs])),
            "labels": torch.from_numpy(np.stack([p.labels for p in packs])),
            "position_ids": torch.from_numpy(np.stack([p.position_ids for p in packs])),
            # additive (0 / -inf-ish), not boolean: eager attention ADDS the mask to the scores, so a
            # boolean one would let packed samples see each other (SDPA takes either)
            "attention_mask": additive_mask(block_causal_mask(seg)),
        }


def additive_mask(allowed: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A boolean (B, 1, L, L) attention mask as the float mask every attention implementation reads the
    same way: 0 where attending is allowed, the dtype's most negative value elsewhere."""
    mask = torch.zeros(allowed.shape, dtype=dtype)
    return mask.masked_fill_(torch.from_numpy(~allowed), torch.finfo(dtype).min)


def make_stream(cfg: TrainConfig, tokenizer: Any) -> tuple[Any, int]:
    """(stream, total optimizer steps) for the config's stage."""
    gbs = cfg.train.global_batch_size
    if cfg.stage == "sft":
        epochs = cfg.train.epochs or 1
        stream = SFTStream(cfg, tokenizer, epochs)
        steps = cfg.train.train_steps or len(stream) // gbs
        if steps < 1 or steps * gbs > len(stream):
            raise ConfigError(
                "train.global_batch_size",
                f"{len(stream.packs)} packs x {epochs} epochs = {len(stream)} samples: too few for "
                f"{steps} step(s) of {gbs}",
            )
        return stream, steps
    steps = cfg.train.steps()
    assert steps is not None
    return PretrainStream(cfg, steps * gbs), steps
