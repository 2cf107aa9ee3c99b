"""Helpers for the data tests (a uniquely named module: every test folder has its own conftest.py)."""

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def demo_texts(folder: str, limit: int = 200) -> list[str]:
    texts = []
    for shard in sorted((REPO / "data" / "demo" / folder).glob("*.jsonl")):
        for line in shard.read_text().splitlines():
            try:
                texts.append(json.loads(line)["text"])
            except ValueError:
                continue  # the demo corpus plants one truncated record on purpose
            if len(texts) >= limit:
                return texts
    return texts


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path
