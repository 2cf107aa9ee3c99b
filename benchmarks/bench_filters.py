"""Benchmark (issue 8, #1): FineWeb heuristic filters, docs/s/core, ours vs datatrove 0.10.1.

Both run single-process (one core) over the same real corpus (Python's pydoc topics and the installed
packages' METADATA long descriptions), in FineWeb's order: Gopher repetition -> Gopher quality -> C4
(terminal-punctuation rule off) -> FineWeb quality. Prints docs/s/core for each, the ratio, and how many
documents got the identical decision (keep, or the same drop reason). Target: ratio >= 2. Every timed
pass starts cold for both: fresh filter objects, and our cross-document chunk cache emptied (datatrove
keeps nothing between documents: it tokenizes inside a spaCy memory zone).

    .venv/bin/python benchmarks/bench_filters.py [--docs N] [--repeat R]
"""

from __future__ import annotations

import argparse
import copy
import email
import sys
import time
from pathlib import Path


def corpus(n_docs: int) -> list[str]:
    from pydoc_data.topics import topics

    site = next(Path(p) for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())
    texts = [topics[k] for k in sorted(topics)]
    for path in sorted(site.glob("*.dist-info/METADATA")):
        body = email.message_from_string(path.read_text(encoding="utf-8", errors="replace")).get_payload()
        if isinstance(body, str) and body.strip():
            texts.append(body)
    # cycle through lengths: whole texts, then halves, so the corpus has short and long pages
    halves = []
    for t in texts:
        lines = t.splitlines(keepends=True)
        if len(lines) > 20:
            halves += ["".join(lines[: len(lines) // 2]), "".join(lines[len(lines) // 2 :])]
    return (texts + halves)[:n_docs]


def run_datatrove(texts: list[str]) -> tuple[list[str | None], float]:
    from datatrove.data import Document
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    chain = [
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        C4QualityFilter(filter_no_terminal_punct=False),
        FineWebQualityFilter(),
    ]
    out: list[str | None] = []
    t0 = time.perf_counter()
    for i, text in enumerate(texts):
        doc = Document(text=text, id=str(i))
        reason = None
        for f in chain:
            r = f.filter(doc)
            if r is not True:
                reason = r[1] if isinstance(r, tuple) else "dropped"
                break
        out.append(reason)
    return out, time.perf_counter() - t0


def run_ours(texts: list[str]) -> tuple[list[str | None], float]:
    from infir.curation.filters import textstats
    from infir.curation.filters.web import FineWebFilters

    # every timed pass starts cold: a chunk cache kept warm from an earlier pass would flatter us
    textstats.clear_caches()
    step = FineWebFilters()
    docs = [{"id": str(i), "text": t} for i, t in enumerate(texts)]
    t0 = time.perf_counter()
    out = step.filter_batch(docs)
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=800, help="documents in the corpus (default 800)")
    ap.add_argument(
        "--repeat", type=int, default=1, help="timed passes per implementation, each cold (best is kept)"
    )
    args = ap.parse_args()
    texts = corpus(args.docs)
    mb = sum(len(t) for t in texts) / 1e6
    print(f"corpus: {len(texts)} real documents, {mb:.1f} M chars; one process (one core) each")
    # warm both (spaCy load, imports) on a few docs so timing measures filtering only
    run_datatrove(copy.copy(texts[:5]))
    run_ours(texts[:5])
    best_dt = best_ours = float("inf")
    for _ in range(args.repeat):
        dt_dec, t_dt = run_datatrove(texts)
        our_dec, t_ours = run_ours(texts)
        best_dt, best_ours = min(best_dt, t_dt), min(best_ours, t_ours)
    agree = sum(a == b for a, b in zip(dt_dec, our_dec))
    kept = sum(d is None for d in our_dec)
    rate_dt, rate_ours = len(texts) / best_dt, len(texts) / best_ours
    print(f"{'implementation':<16}{'docs/s/core':>14}{'ratio':>8}")
    print(f"{'datatrove 0.10.1':<16}{rate_dt:>14.1f}{1.0:>8.2f}")
    print(f"{'infir':<16}{rate_ours:>14.1f}{rate_ours / rate_dt:>8.2f}")
    print(
        f"identical decisions: {agree}/{len(texts)} (kept {kept}); speedup {rate_ours / rate_dt:.2f}x (target 2x)"
    )
    if agree != len(texts):
        sys.exit(1)


if __name__ == "__main__":
    main()
