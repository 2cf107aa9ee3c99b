"""Tiny real training inputs shared by tests/recipes and tests/launcher: a BPE tokenizer, megatron-core
.bin/.idx data and a blend YAML over them.

A uniquely named module (every test folder has its own conftest.py); tests/ is on sys.path through the
root conftest. A conftest re-exports the fixtures with `from recipe_inputs import blend_yaml, tokenizer_dir`.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import yaml

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
