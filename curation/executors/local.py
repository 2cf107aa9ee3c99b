"""In-process executor: shard by shard, batch by batch, one progress line per shard with rate and ETA.

`split_records` and `apply_steps` are shared with the NeMo Curator adapter so both executors make the same
decisions and write the same files (rejects ordered by input position, whatever step dropped them).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from infir.curation.base import Step, StepStats, count_tokens
from infir.curation.io import MALFORMED

Doc = dict[str, Any]


def split_records(records: Iterable[tuple[Doc | None, Doc | None]], first: bool):
    """-> (docs, [(position, malformed reject)], read stats or None). Positions count every record."""
    docs: list[tuple[int, Doc]] = []
    bad: list[tuple[int, Doc]] = []
    for pos, (doc, rej) in enumerate(records):
        if doc is not None:
            docs.append((pos, doc))
        else:
            bad.append((pos, rej))
    if not first:
        return docs, bad, None
    stats = StepStats()
    tokens = sum(count_tokens(d["text"]) for _, d in docs)
    stats.docs_in, stats.tokens_in = len(docs) + len(bad), tokens
    stats.docs_out, stats.tokens_out = len(docs), tokens
    if bad:
        stats.dropped_docs[MALFORMED] = len(bad)
        stats.dropped_tokens[MALFORMED] = 0
    return docs, bad, stats


def apply_steps(
    steps: Sequence[tuple[str, Step]], docs: list[tuple[int, Doc]], batch_size: int
) -> tuple[list[tuple[int, Doc]], list[tuple[int, Doc]], dict[str, StepStats]]:
    """Run the steps on (position, doc) pairs in batches -> kept pairs, (position, reject) pairs, stats."""
    stats = {label: StepStats() for label, _ in steps}
    kept_all: list[tuple[int, Doc]] = []
    rejects: list[tuple[int, Doc]] = []
    for start in range(0, len(docs), batch_size):
        batch = docs[start : start + batch_size]
        where = {id(d): p for p, d in batch}
        live = [d for _, d in batch]
        for label, step in steps:
            if not live:
                break
            live, dropped = step.run_batch(live, stats[label])
            for doc, reason in dropped:
                rejects.append((where[id(doc)], {**doc, "_step": label, "_reason": reason}))
        kept_all += [(where[id(d)], d) for d in live]
    return kept_all, rejects, stats


def merge_rejects(*groups: list[tuple[int, Doc]]) -> list[Doc]:
    return [d for _, d in sorted((x for g in groups for x in g), key=lambda x: x[0])]


class LocalExecutor:
    def __init__(self, cfg, quiet: bool = False):
        self.cfg, self.quiet, self._ready = cfg, quiet, set()

    def run_phase(
        self, steps: Sequence[tuple[str, Step]], inputs: list[tuple[str, Iterable]], first: bool
    ) -> Iterator:
        from infir.curation.pipeline import ShardResult

        for label, step in steps:
            if label not in self._ready:
                step.setup()
                self._ready.add(label)
        t0, done_docs = time.perf_counter(), 0
        for i, (name, records) in enumerate(inputs, 1):
            docs, bad, read_stats = split_records(records, first)
            kept, rejects, stats = apply_steps(steps, docs, self.cfg.batch_size)
            if read_stats is not None:
                stats = {"read": read_stats, **stats}
            done_docs += len(docs) + len(bad)
            if not self.quiet:
                elapsed = time.perf_counter() - t0
                rate = done_docs / max(elapsed, 1e-9)
                eta = elapsed / i * (len(inputs) - i)
                labels = ",".join(label for label, _ in steps) or "read"
                print(
                    f"[{labels}] shard {i}/{len(inputs)} {name}: {len(docs) + len(bad)} in, {len(kept)} kept "
                    f"| {rate:,.0f} docs/s | ETA {eta:.0f}s",
                    file=sys.stderr,
                    flush=True,
                )
            yield ShardResult(name, [d for _, d in kept], merge_rejects(bad, rejects), stats)

    def close(self) -> None:
        pass
