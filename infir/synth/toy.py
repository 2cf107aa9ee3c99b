"""A tiny reward model for toy runs (the demo, tests): a causal LM checkpoint with a one-output
classification head on top (HF `*ForSequenceClassification`), saved as a reward model folder.

The head is freshly initialised (seeded): its scores are deterministic but carry no judgement of quality.
It exercises every part of reward scoring (batched scoring, best-of-N, the threshold, the plot) at toy
scale; a real run names a trained reward model (Skywork-Reward, Qwen2.5-Math-RM, ...).
"""

from __future__ import annotations

import shutil
from pathlib import Path


def make_toy_reward(base: str | Path, output: str | Path, seed: int = 0) -> Path:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    base, output = Path(base), Path(output)
    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    tmp = output.with_name(output.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    shutil.rmtree(output, ignore_errors=True)
    tmp.rename(output)  # a killed run never leaves a half-written reward model behind
    return output
