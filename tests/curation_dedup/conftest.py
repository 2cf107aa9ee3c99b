"""Real text for the dedup/decontam tests: the shipped demo corpus (data/demo), planted rows left out."""

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"


def load_demo(folder: str, limit: int | None = None, min_words: int = 80) -> list[dict]:
    docs = []
    for shard in sorted((DEMO / folder).glob("*.jsonl")):
        for line in shard.read_text().splitlines():
            try:
                doc = json.loads(line)
            except ValueError:  # the planted truncated line
                continue
            if "planted" in doc or len(doc.get("text", "").split()) < min_words:
                continue
            docs.append({"id": doc["id"], "text": doc["text"]})
    return docs[:limit]


@pytest.fixture(scope="session")
def web_docs() -> list[dict]:
    docs = load_demo("web", limit=120)
    assert len(docs) >= 100, "demo corpus missing: data/demo/web"
    return docs


@pytest.fixture(scope="session")
def code_docs() -> list[dict]:
    return load_demo("code", min_words=20)
