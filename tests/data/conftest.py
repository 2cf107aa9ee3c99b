"""Shared fixture for the data tests: a small Llama-3-style tokenizer trained once per session."""

import os
from pathlib import Path

import pytest
from data_helpers import demo_texts

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory) -> Path:
    from infir.data.tokenizer import train_bpe

    texts = demo_texts("web", 60) + demo_texts("code", 30) + demo_texts("math", 100)
    return train_bpe(texts, 1024, tmp_path_factory.mktemp("tok") / "bpe")
