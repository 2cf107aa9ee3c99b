"""Small test-only steps and a CLI entry point that registers them (for the kill-and-resume subprocess)."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from infir.curation.base import Step
from infir.curation.registry import register_step

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"


@register_step("test_min_words")
class MinWords(Step):
    reasons = ("too_short",)

    @dataclass
    class Config:
        min_words: int = field(default=5, metadata={"ge": 0})

    def __init__(self, config: Config):
        self.config = config

    def filter(self, doc):
        return "too_short" if len(doc["text"].split()) < self.config.min_words else None


@register_step("test_slow")
class Slow(Step):
    """Sleeps per batch so a test can kill a run in the middle; drops docs whose id ends in 7."""

    reasons = ("id_ends_in_7",)

    @dataclass
    class Config:
        sleep_s: float = 0.05

    def __init__(self, config: Config):
        self.config = config

    def filter_batch(self, docs):
        time.sleep(self.config.sleep_s)
        return ["id_ends_in_7" if str(d["id"]).endswith("7") else None for d in docs]


def write_corpus(folder: Path, n_shards: int, docs_per_shard: int, malformed_every: int = 0) -> Path:
    """Shards of real text (the shipped demo corpus, cycled), with duplicates across shards and optional
    malformed lines, so filters, dedup and the reject path all have work."""
    texts = []
    for domain in ("web", "math", "code"):
        for shard in sorted((DEMO / domain).glob("*.jsonl")):
            for line in shard.read_text().splitlines():
                try:
                    texts.append(json.loads(line)["text"])
                except (ValueError, KeyError):
                    pass
    folder.mkdir(parents=True, exist_ok=True)
    k = 0
    for s in range(n_shards):
        with open(folder / f"shard-{s:03d}.jsonl", "w") as fh:
            for j in range(docs_per_shard):
                if malformed_every and j % malformed_every == malformed_every - 1:
                    fh.write('{"id": "broken", "text": "unterminated\n')
                    continue
                fh.write(json.dumps({"id": f"d{k:06d}", "text": texts[k % len(texts)]}) + "\n")
                k += 1
    return folder


if __name__ == "__main__":
    from infir.cli import main

    main(sys.argv[1:])
