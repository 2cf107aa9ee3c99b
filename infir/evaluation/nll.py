"""Web validation NLL per token (docs/PAPER.md section 3, the pretraining-stage "recall" metric).

The metric is token-weighted: total NLL over all scored tokens / total tokens, so long documents count
in proportion to their length, as the training loss does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from infir.config import ConfigError
from infir.evaluation.model import LoadedLM, doc_nll, load_lm, nll_summary
from infir.jsonl import iter_jsonl


def read_jsonl(
    path: str | Path, field: str = "text", limit: int | None = None, typed: bool = True
) -> Iterator[dict]:
    """Records of a JSONL(.gz) file (or every *.jsonl* in a folder); a bad line names file:line and field."""
    path = Path(path)
    files = sorted(path.glob("*.jsonl*")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise ConfigError("data", f"{path}: no JSONL file found")
    n = 0
    for f in files:
        for where, rec in iter_jsonl(f):
            if not isinstance(rec, dict) or field not in rec or (typed and not isinstance(rec[field], str)):
                raise ConfigError(where, f"field {field!r} missing or of the wrong type")
            rec["_where"] = where
            yield rec
            n += 1
            if limit is not None and n >= limit:
                return


def score_texts(
    lm: LoadedLM, texts: list[str], seq_len: int, batch_size: int, chunk_docs: int = 64
) -> list[tuple[float, int]]:
    """doc_nll over `texts` in chunks, printing progress with rate and ETA."""
    out: list[tuple[float, int]] = []
    t0 = time.perf_counter()
    for i in range(0, len(texts), chunk_docs):
        out.extend(doc_nll(lm, texts[i : i + chunk_docs], seq_len, batch_size))
        done = len(out)
        rate = done / max(time.perf_counter() - t0, 1e-9)
        eta = (len(texts) - done) / max(rate, 1e-9)
        print(f"[nll] {done}/{len(texts)} docs  {rate:.1f} docs/s  eta {eta:.0f}s", flush=True)
    return out


def web_nll(
    model_path: str | Path | LoadedLM,
    data_path: str | Path,
    max_docs: int | None = None,
    seq_len: int = 1024,
    batch_size: int = 8,
    field: str = "text",
) -> dict:
    """Token-weighted NLL per token of a JSONL text file (or folder of them) under a local HF model.

    Returns {"nll_per_token", "perplexity", "tokens", "docs"}.
    """
    texts = [r[field] for r in read_jsonl(data_path, field, max_docs)]
    if not texts:
        raise ConfigError("data", f"{data_path}: no documents")
    lm = model_path if isinstance(model_path, LoadedLM) else load_lm(model_path)
    scores = score_texts(lm, texts, seq_len, batch_size)
    total = sum(s for s, _ in scores)
    tokens = sum(c for _, c in scores)
    return {**nll_summary(total, tokens), "docs": len(texts)}
