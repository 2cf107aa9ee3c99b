"""Tiny real inputs for the recipe tests: a BPE tokenizer, megatron-core .bin/.idx data, a blend YAML."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")

WORDS = [
    "the",
    "cat",
    "sat",
    "on",
    "a",
    "mat",
    "and",
    "dog",
    "ran",
    "to",
    "park",
    "with",
    "ball",
    "under",
    "tree",
    "sun",
    "was",
    "hot",
    "so",
    "they",
    "rested",
]


def corpus(n: int, seed: int = 0) -> list[str]:
    """Patterned sentences: learnable enough that a 2-layer model's loss falls within a few steps."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.randrange(len(WORDS) - 6)
        out.append(" ".join(WORDS[k : k + 6 + rng.randrange(6)]) + ". " + " ".join(WORDS[:8]) + ".")
    return out


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory) -> Path:
    from infir.data.tokenizer import train_bpe

    out = tmp_path_factory.mktemp("tok")
    return train_bpe(corpus(400) + ["user assistant system what is 2+2? it is 4."] * 5, 384, out)


@pytest.fixture(scope="session")
def blend_yaml(tmp_path_factory, tokenizer_dir) -> Path:
    """Two megatron-core sources written with IndexedDatasetBuilder, and a blend over them."""
    import torch
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    root = tmp_path_factory.mktemp("megatron")
    blend = []
    for j, source in enumerate(["web", "math"]):
        prefix = str(root / f"{source}_text_document")
        builder = IndexedDatasetBuilder(prefix + ".bin", dtype=np.int32)
        for text in corpus(300, seed=j + 1):
            ids = tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
            builder.add_document(torch.tensor(ids, dtype=torch.int32), [len(ids)])
        builder.finalize(prefix + ".idx")
        blend.append([0.7 if j == 0 else 0.3, prefix])
    path = root / "blend.yaml"
    path.write_text(yaml.safe_dump({"blend": blend}))
    return path


@pytest.fixture(scope="session")
def sft_jsonl(tmp_path_factory) -> Path:
    import json

    path = tmp_path_factory.mktemp("sft") / "chat.jsonl"
    rng = random.Random(3)
    rows = []
    for i in range(24):
        q = " ".join(rng.sample(WORDS, 4))
        if i % 2:
            rows.append({"prompt": f"what is {q}?", "response": f"it is {q}."})
        else:
            rows.append(
                {
                    "messages": [
                        {"role": "system", "content": "be brief"},
                        {"role": "user", "content": f"say {q}"},
                        {"role": "assistant", "content": q},
                    ]
                }
            )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
