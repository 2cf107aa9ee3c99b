"""`--workers N` on one machine: N processes, each owning whole shards end to end.

A worker reads its shard, runs the phase's steps, and writes the shard's kept and rejects files and its
done-marker itself; the driver only hands out shard names and prints one progress line per finished shard
(rate and ETA). A shard is processed exactly as the one-process executor processes it (same `split_records`
/ `apply_steps` / `_finish_shard`), so the output is byte-identical at any worker count (tested).

The pool is forked after the phase's global step has been fitted in the driver, so workers inherit the fitted
state (duplicate lists, recall cutoffs) instead of recomputing it; models are loaded in each worker by the
steps' own `setup()`, after the fork. Fork is Linux's default start method and what makes this cheap; the
Ray executor is the multi-node path.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence


def process_shard(layout, phase, cfg, shard) -> tuple[str, int, int]:
    """One shard of one phase, end to end: read it, run the steps, write its kept and rejects files and
    then its done-marker. Returns only (name, documents in, documents kept). Every executor that spreads
    shards over workers (this pool, the Ray stage in nemo.py) calls this, so outputs are the same bytes."""
    from infir.curation.executors.local import apply_steps, merge_rejects, split_records
    from infir.curation.pipeline import ShardResult, _finish_shard, _records

    first = phase.index == 0
    docs, bad, read_stats = split_records(_records(layout, phase.index, shard, cfg), first)
    kept, rejects, stats = apply_steps(phase.steps, docs, cfg.batch_size)
    if read_stats is not None:
        stats = {"read": read_stats, **stats}
    _finish_shard(
        layout, phase, ShardResult(shard.name, [d for _, d in kept], merge_rejects(bad, rejects), stats)
    )
    return shard.name, len(docs) + len(bad), len(kept)


def progress_line(labels: str, i: int, total: int, name: str, n_in: int, n_kept: int, done_docs: int,
                  elapsed: float, workers: int | str) -> str:  # fmt: skip
    eta = elapsed / i * (total - i)
    return (f"[{labels}] shard {i}/{total} {name}: {n_in} in, {n_kept} kept | "
            f"{done_docs / max(elapsed, 1e-9):,.0f} docs/s on {workers} workers | ETA {eta:.0f}s")  # fmt: skip


def run_phase(layout, phase, cfg, shards: Sequence, workers: int, quiet: bool = False) -> None:
    """Process `shards` (those without a done-marker) of one phase on `workers` forked processes (the
    fan-out's pool: each worker dies with the driver)."""
    from infir.curation.executors.fanout import FanOut, fan_out

    shards = list(shards)
    ready: list[bool] = []  # per process after the fork: models load once per worker, not per shard

    def work(i: int) -> tuple[str, int, int]:
        if not ready:
            for _, step in phase.steps:
                step.setup()
            ready.append(True)
        return process_shard(layout, phase, cfg, shards[i])

    labels = ",".join(label for label, _ in phase.steps) or "read"
    t0, done_docs = time.perf_counter(), 0
    for i, (_, (name, n_in, n_kept)) in enumerate(fan_out(work, len(shards), FanOut(workers=workers)), 1):
        done_docs += n_in
        if not quiet:
            line = progress_line(labels, i, len(shards), name, n_in, n_kept, done_docs,
                                 time.perf_counter() - t0, workers)  # fmt: skip
            print(line, file=sys.stderr, flush=True)
