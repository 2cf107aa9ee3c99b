"""Benchmark 7: `infir curate --workers N` scaling on one machine, against the same pipeline in one process.

Corpus: the shipped demo corpus's text, cycled into --shards shards of --docs documents. Pipeline: the
FineWeb filter step (the fused Gopher/C4/FineWeb rules, as conf/curation/web.yaml runs them) followed by
exact dedup (a global step, fitted in the driver). Both runs must write byte-identical kept/rejects files
(asserted). Prints docs/s for 1 and N workers and the ratio (target: >= 1.7x with 2 workers on 2 cores).

    .venv/bin/python benchmarks/bench_workers.py [--workers 2] [--shards 8] [--docs 1200]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
PIPELINES = {
    "filters+exact_dedup": {
        "name": "bench_workers",
        "batch_size": 200,
        "steps": [{"type": "fineweb_filters", "c4_quality": {"filter_no_terminal_punct": False}},
                  {"type": "exact_dedup", "num_partitions": 4}],
    },
    # the MinHash fit alone (shingle + sign per shard, group + verify per partition: fanout.py)
    "minhash_dedup": {"name": "bench_minhash", "batch_size": 200,
                      "steps": [{"type": "minhash_dedup", "num_partitions": 8}]},
}  # fmt: skip


def corpus(folder: Path, shards: int, docs: int) -> int:
    texts = []
    for path in sorted((REPO / "data" / "demo").glob("*/*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                texts.append(json.loads(line)["text"])
            except (ValueError, KeyError, TypeError):
                continue
    folder.mkdir(parents=True)
    n = 0
    for s in range(shards):
        rows = [{"id": f"s{s}-{i}", "text": texts[(s * docs + i) % len(texts)]} for i in range(docs)]
        (folder / f"shard-{s:03d}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        n += len(rows)
    return n


def digest(out: Path) -> str:
    h = hashlib.sha256()
    for sub in ("kept", "rejects"):
        for p in sorted((out / sub).glob("*.jsonl")):
            h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def main() -> None:
    from infir.curation.pipeline import PipelineConfig, run_pipeline

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--docs", type=int, default=1200)
    ap.add_argument("--repeat", type=int, default=2, help="timed runs of each, alternating; best kept")
    args = ap.parse_args()
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        n = corpus(root / "in", args.shards, args.docs)
        for label, pipeline in PIPELINES.items():
            best: dict[int, float] = {}
            digests: set[str] = set()
            # alternate N and 1 (the first run of a process also pays spaCy's and numpy's cold start: a
            # throwaway run absorbs that), keep each one's best
            run_pipeline(PipelineConfig(**pipeline), root / "in", root / f"warmup-{label}", quiet=True)
            for r in range(args.repeat):
                for workers in (args.workers, 1):
                    out = root / f"out-{label}-{workers}-{r}"
                    t0 = time.perf_counter()
                    run_pipeline(PipelineConfig(**pipeline, workers=workers), root / "in", out, quiet=True)
                    best[workers] = min(best.get(workers, float("inf")), time.perf_counter() - t0)
                    digests.add(digest(out))
            assert len(digests) == 1, f"{label}: outputs differ between 1 and N workers"
            table.append((label, n / best[1], n / best[args.workers]))
    print(f"{n} docs in {args.shards} shards, {os.cpu_count()} cores")
    print(f"{'pipeline':<22}{'1 worker':>10}{f'{args.workers} workers':>12}{'ratio':>8}  (docs/s)")
    for label, one, many in table:
        print(f"{label:<22}{one:>10,.0f}{many:>12,.0f}{many / one:>7.2f}x")
    print(f"byte-identical output at 1 and {args.workers} workers; target 1.7x at 2 workers on 2 cores")


if __name__ == "__main__":
    main()
