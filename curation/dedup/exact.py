"""`exact_dedup`: drop documents whose normalised text is identical to an earlier one.

Normalisation: lowercase, whitespace runs collapsed to one space, stripped (so re-wrapped or re-cased
copies count as exact). Hash: xxh3-128 truncated to 64 bits per document (collisions ~ n^2 / 2^65).
fit() writes, per shard, the (hash, key) pairs split by hash range into `num_partitions` files plus the
shard's ids; then each partition is deduplicated on its own (memory ~ one partition), the first copy by
(shard name, position) surviving. filter() drops the others with reason `exact_duplicate` and records the
survivor's id in `_duplicate_of`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xxhash

from infir.curation.base import Doc
from infir.curation.dedup.store import (
    RemovalListStep,
    ShardStore,
    doc_key,
    read_partition,
    read_shard_ids,
    removed_map,
    run_starts,
    shard_order,
    write_partitions,
    write_removed,
)
from infir.curation.executors.fanout import fan_out
from infir.curation.registry import register_step

_WS = re.compile(r"\s+")


def normalised_hash(text: str) -> int:
    return xxhash.xxh3_64_intdigest(_WS.sub(" ", text.lower()).strip())


@register_step("exact_dedup")
class ExactDedup(RemovalListStep):
    reasons = ("exact_duplicate",)

    @dataclass
    class Config:
        num_partitions: int = field(default=16, metadata={"ge": 1, "le": 4096})
        survivor_field: str = "_duplicate_of"

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config)
        self._workdir: Path | None = None
        self._removed: dict[str, str] | None = None

    def fit(self, shards: Mapping[str, Callable[[], Iterable[Doc]]], workdir: Path) -> None:
        self._workdir = Path(workdir) / "exact_dedup"
        store = ShardStore(self._workdir)
        order = shard_order(shards, self.source_order)
        fp = f"exact-v1-p{self.config.num_partitions}"
        todo = []
        for rank, shard in enumerate(order):
            # the rank is in the marker: a shard's saved keys hold its rank, so a new order recomputes it
            if store.done(shard, f"{fp}-rank{rank}"):
                print(f"exact_dedup: {shard}: done earlier, skipped")
            else:
                todo.append((rank, shard))

        def hash_shard(j: int) -> int:  # one shard: normalised text hashes into partitions, then its marker
            rank, shard = todo[j]
            ids, hashes = [], []
            for _, doc in read_shard_ids(shards[shard], shard):
                ids.append(str(doc["id"]))
                hashes.append(normalised_hash(doc["text"]))
            keys = np.array([doc_key(rank, i) for i in range(len(ids))], dtype=np.uint64)
            write_partitions(
                store, shard, np.array(hashes, dtype=np.uint64), keys, self.config.num_partitions
            )
            store.path(shard, "ids.json").write_text(json.dumps(ids))
            store.mark_done(shard, f"{fp}-rank{rank}")
            return len(ids)

        t0 = time.perf_counter()
        for done, (j, n) in enumerate(fan_out(hash_shard, len(todo), self.fanout), 1):
            print(f"exact_dedup: [{done}/{len(todo)}] {todo[j][1]}: {n} docs hashed "
                  f"({time.perf_counter() - t0:.1f}s)")  # fmt: skip

        def group(p: int) -> tuple[np.ndarray, np.ndarray]:  # one partition: every run of equal hashes
            hashes, keys = read_partition(store, order, p)
            idx = np.lexsort((keys, hashes))  # by hash, then key: the first of each run survives
            h, k = hashes[idx], keys[idx]
            first = run_starts(h)
            run_start = np.maximum.accumulate(np.where(first, np.arange(len(h)), 0))
            return k[~first], k[run_start[~first]]

        parts = dict(fan_out(group, self.config.num_partitions, self.fanout))
        removed_keys = [parts[p][0] for p in range(self.config.num_partitions)]
        survivor_keys = [parts[p][1] for p in range(self.config.num_partitions)]
        removed = removed_map(
            store, order, np.concatenate(removed_keys), np.concatenate(survivor_keys), self.name
        )
        write_removed(self._workdir / "removed.json", removed)
        print(f"exact_dedup: {len(removed)} exact duplicates across {len(order)} shards")
