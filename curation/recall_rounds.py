"""Iterative recall, DeepSeekMath's way (Shao et al. 2024, section 2.1), one domain at a time: the paper
trains one fastText model per domain (math, code-related, other) and recalls from the *remaining* corpus.

A round: train on the positives against the negatives; score every corpus document not already a positive;
recall those at or above `threshold`; then grow the positives: DeepSeekMath marks a web domain as of the
topic when over 10% of its pages were recalled and adds that domain's pages for the next round (it also had
people annotate URL paths, which we do not). Rounds stop after `rounds`, or early when a round recalls
almost nothing new (`stop_overlap`: DeepSeekMath stopped when 98% of a round's recall was already there).
Each round's held-out precision and recall, recalled count, new positives and overlap go to rounds.json and
rounds.md, the recall funnel; the last model is model.bin, the one `recall` steps use.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from infir.config import ConfigError
from infir.curation.io import Shard, read_shard
from infir.curation.recall import POS, TrainConfig, _fit
from infir.curation.scorers import fasttext_scores


@dataclass
class RoundsConfig:
    domain: str = "math"
    rounds: int = field(default=4, metadata={"ge": 1})  # DeepSeekMath: 4
    threshold: float = field(default=0.5, metadata={"ge": 0, "le": 1})
    #: a host joins the positives when this share of its corpus pages was recalled (DeepSeekMath: 10%)
    domain_share: float = field(default=0.1, metadata={"gt": 0, "le": 1})
    min_host_pages: int = field(default=2, metadata={"ge": 1})
    stop_overlap: float = field(default=0.98, metadata={"ge": 0, "le": 1})
    url_field: str = "url"
    train: TrainConfig = field(default_factory=TrainConfig)


def _host(doc: dict, url_field: str) -> str | None:
    url = doc.get(url_field)
    if not isinstance(url, str) or not url:
        return None
    host = urlsplit(url if "//" in url else f"//{url}").hostname
    return host.removeprefix("www.") if host else None


def _stream(files: list[Path]) -> Iterator[dict]:
    """Good documents of the corpus shards, in order (malformed lines are the pipeline's business)."""
    for path in files:
        for doc, _bad in read_shard(Shard(path.name, path)):
            if doc is not None:
                yield doc


def _batches(docs: Iterable[dict], size: int = 10_000) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for d in docs:
        batch.append(d)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def run_rounds(positives: list[str], negatives: list[str], corpus: list[Path], out: Path,
               cfg: RoundsConfig) -> list[dict[str, Any]]:  # fmt: skip
    """Run the rounds over corpus shards (JSONL/Parquet with `id`, `text`, `url`), streamed each round: only
    ids and hosts stay in memory, so the corpus may be far larger than RAM."""
    if not positives or not negatives:
        raise ConfigError("positives" if not positives else "negatives", "recall rounds need seed documents")
    seed = {" ".join(t.split()) for t in positives}

    def rest() -> Iterator[dict]:  # the remaining corpus: the seed documents are never recalled
        return (d for d in _stream(corpus) if " ".join(d["text"].split()) not in seed)

    pages = Counter(h for d in rest() if (h := _host(d, cfg.url_field)))
    pos, added, recalled_before = list(positives), set(), set()
    history = []
    out.mkdir(parents=True, exist_ok=True)
    for r in range(1, cfg.rounds + 1):
        with tempfile.TemporaryDirectory() as tmp:
            model, metrics = _fit(pos, negatives, cfg.train, Path(tmp))
        recalled, hits = set(), Counter()
        for batch in _batches(rest()):
            for d, s in zip(batch, fasttext_scores(model, [d["text"] for d in batch], POS), strict=True):
                if s >= cfg.threshold:
                    recalled.add(d["id"])
                    if h := _host(d, cfg.url_field):
                        hits[h] += 1
        hosts = {
            h for h, n in hits.items() if pages[h] >= cfg.min_host_pages and n / pages[h] >= cfg.domain_share
        }
        grow = [d for d in rest() if _host(d, cfg.url_field) in hosts and d["id"] not in added]
        overlap = len(recalled & recalled_before) / max(1, len(recalled))
        round_dir = out / f"round_{r}"
        round_dir.mkdir(exist_ok=True)
        model.save_model(str(round_dir / "model.bin"))
        (round_dir / "recalled.jsonl").write_text(
            "".join(json.dumps({"id": i}) + "\n" for i in sorted(recalled))
        )
        history.append({"round": r, "positives": len(pos), "precision": metrics.get("precision"),
                        "recall": metrics.get("recall"), "recalled": len(recalled), "topic_hosts": len(hosts),
                        "new_positives": len(grow), "overlap_with_previous": round(overlap, 4)})  # fmt: skip
        pos += [d["text"] for d in grow]
        added |= {d["id"] for d in grow}
        model.save_model(str(out / "model.bin"))
        if r > 1 and overlap >= cfg.stop_overlap and not grow:
            break
        recalled_before = recalled
    (out / "rounds.json").write_text(json.dumps({"domain": cfg.domain, "rounds": history}, indent=1))
    (out / "rounds.md").write_text(markdown(cfg.domain, history))
    return history


def markdown(domain: str, history: list[dict[str, Any]]) -> str:
    def f(v: Any) -> str:
        return "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))

    cols = ["round", "positives", "precision", "recall", "recalled", "topic_hosts", "new_positives",
            "overlap_with_previous"]  # fmt: skip
    lines = [f"## Recall rounds: {domain}", "", "| " + " | ".join(cols) + " |", "|" + " ---: |" * len(cols)]
    lines += ["| " + " | ".join(f(h[c]) for c in cols) + " |" for h in history]
    return "\n".join(lines) + "\n"
