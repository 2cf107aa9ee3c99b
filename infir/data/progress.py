"""Per-chunk progress lines (rate, ETA), the summary table, and the shared token_counts.json."""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

COUNTS_FILE = "token_counts.json"


def _duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
        if seconds >= 3600
        else f"{seconds // 60}m{seconds % 60:02d}s"
    )


class Progress:
    """Prints one line per finished chunk: docs, tokens, tokens/s so far and the ETA by bytes left."""

    @staticmethod
    def stderr(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    def __init__(self, source: str, total_bytes: int, total_chunks: int, log: Callable[[str], None]):
        self.source, self.total_bytes, self.total_chunks, self.log = source, total_bytes, total_chunks, log
        self.done_bytes = self.done_chunks = self.tokens = self.docs = 0
        self.new_bytes = self.new_tokens = 0
        self.t0 = time.perf_counter()

    def resumed(self, stats: dict[str, Any]) -> None:
        self.done_bytes += stats["bytes"]
        self.done_chunks += 1
        self.tokens += stats["tokens"]
        self.docs += stats["documents"]
        self.log(f"[{self.source}] resuming: chunk already tokenized ({stats['tokens']:,} tokens)")

    def update(self, stats: dict[str, Any], chunk: Any) -> None:
        self.done_bytes += stats["bytes"]
        self.done_chunks += 1
        self.tokens += stats["tokens"]
        self.docs += stats["documents"]
        self.new_bytes += stats["bytes"]
        self.new_tokens += stats["tokens"]
        elapsed = max(time.perf_counter() - self.t0, 1e-9)
        byte_rate = self.new_bytes / elapsed
        eta = (self.total_bytes - self.done_bytes) / byte_rate if byte_rate else 0.0
        self.log(
            f"[{self.source}] {Path(chunk.path).name}[{chunk.start / 2**20:.1f}-{chunk.end / 2**20:.1f}MB] "
            f"{stats['documents']:,} docs {stats['tokens']:,} tok | {self.done_chunks}/{self.total_chunks} "
            f"chunks, {self.tokens:,} tok, {self.new_tokens / elapsed:,.0f} tok/s, "
            f"{byte_rate / 2**20:.1f} MB/s, ETA {_duration(eta)}"
        )


def summary_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of tokenized sources (what `infir tokenize` prints at the end)."""
    head = ["source", "documents", "tokens", "tok/doc", "dtype", "seconds", "tok/s", "status"]
    body = []
    for r in rows:
        secs = float(r.get("seconds") or 0.0)
        rate = f"{r['tokens'] / secs:,.0f}" if secs > 0 and not r.get("skipped") else "-"
        per_doc = f"{r['tokens'] / r['documents']:.1f}" if r["documents"] else "-"
        status = "skipped (complete)" if r.get("skipped") else "done"
        body.append(
            [
                r["source"],
                f"{r['documents']:,}",
                f"{r['tokens']:,}",
                per_doc,
                r["dtype"],
                f"{secs:.1f}",
                rate,
                status,
            ]
        )
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)) for row in [head, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def read_counts(out_dir: str | Path) -> dict[str, Any]:
    path = Path(out_dir) / COUNTS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def counts_update(out_dir: str | Path, source: str, entry: dict[str, Any]) -> None:
    """Merge one source into token_counts.json under a file lock (sources may be tokenized concurrently)."""
    out = Path(out_dir)
    with open(out / (COUNTS_FILE + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        counts = read_counts(out)
        counts[source] = entry
        tmp = out / (COUNTS_FILE + ".tmp")
        tmp.write_text(json.dumps(dict(sorted(counts.items())), indent=2) + "\n")
        os.replace(tmp, out / COUNTS_FILE)
