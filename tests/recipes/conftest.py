"""Tiny real inputs for the recipe tests: tokenizer and blend (shared, in tests/recipe_inputs.py), SFT JSONL."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from recipe_inputs import WORDS, blend_yaml, tokenizer_dir  # noqa: F401 (fixtures)

os.environ.setdefault("HF_HUB_OFFLINE", "1")


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
