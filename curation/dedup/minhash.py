"""`minhash_dedup`: global MinHash near-deduplication, verified by exact Jaccard, bounded memory.

Per batch of documents, all in numpy: words (store.batch_words: lowercase UTF-8, runs of ASCII letters,
digits, underscore or non-ASCII bytes; punctuation and whitespace separate) -> polynomial byte hash per
word -> 5-word shingles hashed by a rolling mix -> per-document set of shingles -> 112 minimums under 112
bijective permutations (14 bands x 8 rows, as in FineWeb, which targets ~75% similarity).

fit() per shard (skipped on rerun when its `.done` marker matches the config) writes the shard's sorted
shingle sets (for verification), signatures, ids, and its band buckets split into `num_partitions` files by
band-hash range. Then each partition alone is grouped: documents sharing a band bucket are candidate pairs
(each member against the bucket's first and its predecessor, so a bucket of k costs < 2k pairs), every pair
is verified by exact Jaccard of the memory-mapped shingle sets (>= `threshold`), verified pairs are joined
into clusters (connected components) and the lowest (shard name, position) of each cluster survives.
filter() drops the others with reason `near_duplicate` and writes the survivor's id into `_near_duplicate_of`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from infir.curation.base import Doc
from infir.curation.dedup.store import (
    RemovalListStep,
    ShardStore,
    batch_words,
    doc_key,
    ngram_hashes,
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

_MIX = np.uint64(0x9E3779B97F4A7C15)
_BATCH = 512  # documents tokenised and shingled per numpy pass
_CHUNK = 65_536  # shingles per signature block: (112 x chunk) uint32 = 29 MB


def shingle_sets(texts: list[str], n: int) -> list[np.ndarray]:
    """Per text, the sorted unique uint64 hashes of its n-word shingles (a text with 1..n-1 words is one
    shingle of all of them). Words and n-gram hashes in one numpy pass over the batch; per text only the
    set (np.unique on a slice, which beat one lexsort of the batch by 2x)."""
    h, doc, _, _ = batch_words(texts, digits=False)
    counts = np.bincount(doc, minlength=len(texts))
    start = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(counts, out=start[1:])
    grams = ngram_hashes(h, n) if len(h) >= n else np.empty(0, np.uint64)
    # the n-gram starting at word i is inside text d when i + n <= start[d + 1]; slice per text
    out = []
    for d in range(len(texts)):
        lo, hi = start[d], start[d + 1]
        if hi - lo >= n:
            out.append(np.unique(grams[lo : hi - n + 1]))
        else:
            out.append(ngram_hashes(h[lo:hi], n))  # 0 words -> empty, 1..n-1 -> one shingle
    return out


def shingle_set(text: str, n: int) -> np.ndarray:
    """Sorted unique uint64 hashes of one document's n-word shingles."""
    return shingle_sets([text], n)[0]


def permutations(num: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Parameters of `num` bijections of uint32, x -> a * x + b (mod 2^32) with a odd, applied to the top
    32 bits of each shingle hash (32-bit lanes: twice the SIMD width of uint64, as datatrove's default
    precision). The minimum is decided by the high bits of the product, which depend on every input bit."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2**31, size=num, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = rng.integers(0, 2**32, size=num, dtype=np.uint32)
    return a, b


def signatures(sets: list[np.ndarray], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(docs, num_perm) uint32 MinHash signatures of non-empty shingle sets, in blocks of ~_CHUNK shingles.
    Layout (num_perm, shingles) so `minimum.reduceat` runs along contiguous rows: ~10x faster than the
    (shingles, num_perm) layout on the same data."""
    out = np.empty((len(sets), len(a)), dtype=np.uint32)
    start = 0
    while start < len(sets):
        stop, size = start, 0
        while stop < len(sets) and (size == 0 or size + len(sets[stop]) <= _CHUNK):
            size += len(sets[stop])
            stop += 1
        flat = (np.concatenate(sets[start:stop]) >> np.uint64(32)).astype(np.uint32)
        with np.errstate(over="ignore"):
            x = a[:, None] * flat[None, :]
            x += b[:, None]
        offsets = np.cumsum([0] + [len(s) for s in sets[start : stop - 1]])
        out[start:stop] = np.minimum.reduceat(x, offsets, axis=1).T
        start = stop
    return out


def band_hashes(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(docs, bands) uint64 bucket keys; the band index is mixed in so bands never share buckets."""
    s = sig.reshape(len(sig), bands, rows).astype(np.uint64)
    with np.errstate(over="ignore"):
        h = np.arange(bands, dtype=np.uint64)[None, :] * _MIX
        for r in range(rows):
            h = (h ^ (h >> np.uint64(29))) * _MIX + s[:, :, r]
        h ^= h >> np.uint64(31)
    return h


def candidate_pairs(keys: np.ndarray, docs: np.ndarray) -> np.ndarray:
    """(pairs, 2) doc keys sharing a bucket: each member with its bucket's first and its predecessor."""
    idx = np.lexsort((docs, keys))
    k, d = keys[idx], docs[idx]
    first = run_starts(k)
    head = d[np.maximum.accumulate(np.where(first, np.arange(len(k)), 0))]
    prev = np.r_[d[:1], d[:-1]]
    pairs = np.concatenate([np.stack([head, d], 1)[~first], np.stack([prev, d], 1)[~first]])
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    return np.unique(np.sort(pairs, axis=1), axis=0) if len(pairs) else pairs.reshape(0, 2)


@register_step("minhash_dedup")
class MinHashDedup(RemovalListStep):
    reasons = ("near_duplicate",)

    @dataclass
    class Config:
        ngram: int = field(default=5, metadata={"ge": 1})
        bands: int = field(default=14, metadata={"ge": 1})
        rows: int = field(default=8, metadata={"ge": 1})
        #: exact Jaccard of shingle sets a candidate pair must reach (FineWeb's 14x8 targets ~0.75)
        threshold: float = field(default=0.75, metadata={"gt": 0.0, "le": 1.0})
        seed: int = 1
        num_partitions: int = field(default=16, metadata={"ge": 1, "le": 4096})
        survivor_field: str = "_near_duplicate_of"

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config)
        self._workdir: Path | None = None
        self._removed: dict[str, str] | None = None
        self.summary: dict[str, int] = {}

    def _fingerprint(self) -> str:
        c = self.config
        return f"minhash-v1-n{c.ngram}-b{c.bands}x{c.rows}-s{c.seed}-p{c.num_partitions}"

    def _fit_shard(self, store: ShardStore, shard: str, rank: int, open_shard) -> int:
        c = self.config
        ids, sets, batch = [], [], []
        for _, doc in read_shard_ids(open_shard, shard):
            ids.append(str(doc["id"]))
            batch.append(doc["text"])
            if len(batch) == _BATCH:
                sets += shingle_sets(batch, c.ngram)
                batch = []
        sets += shingle_sets(batch, c.ngram) if batch else []
        sizes = np.array([len(s) for s in sets], dtype=np.int64)
        np.save(store.path(shard, "shingles.npy"), np.concatenate(sets) if sets else np.empty(0, np.uint64))
        np.save(store.path(shard, "offsets.npy"), np.r_[0, np.cumsum(sizes)])
        store.path(shard, "ids.json").write_text(json.dumps(ids))
        live = np.flatnonzero(sizes > 0)  # empty docs have no shingles: nothing to compare
        a, b = permutations(c.bands * c.rows, c.seed)
        sig = signatures([sets[i] for i in live], a, b)
        np.save(store.path(shard, "signatures.npy"), sig)
        bh = band_hashes(sig, c.bands, c.rows)
        keys = np.array([doc_key(rank, int(i)) for i in live], dtype=np.uint64)
        write_partitions(store, shard, bh.ravel(), np.repeat(keys, c.bands), c.num_partitions)
        return len(ids)

    def fit(self, shards: Mapping[str, Callable[[], Iterable[Doc]]], workdir: Path) -> None:
        c = self.config
        self._workdir = Path(workdir) / "minhash_dedup"
        store = ShardStore(self._workdir)
        order = shard_order(shards, self.source_order)
        fp = self._fingerprint()
        t_all, total = time.perf_counter(), 0
        todo = []
        for rank, shard in enumerate(order):
            # the rank is in the marker: a shard's saved keys hold its rank, so a new order recomputes it
            if store.done(shard, f"{fp}-rank{rank}"):
                print(f"minhash_dedup: [{rank + 1}/{len(order)}] {shard}: done earlier, skipped")
            else:
                todo.append((rank, shard))

        def sign(j: int) -> int:  # one shard: shingles, signatures, band partitions, then its marker
            rank, shard = todo[j]
            n = self._fit_shard(store, shard, rank, shards[shard])
            store.mark_done(shard, f"{fp}-rank{rank}")
            return n

        for done, (j, n) in enumerate(fan_out(sign, len(todo), self.fanout), 1):
            total += n
            elapsed = time.perf_counter() - t_all
            print(f"minhash_dedup: [{done}/{len(todo)}] {todo[j][1]}: {n} docs "
                  f"({total / max(elapsed, 1e-9):,.0f} docs/s, ETA {elapsed / done * (len(todo) - done):.0f}s)")  # fmt: skip

        def group(p: int) -> tuple[np.ndarray, np.ndarray]:  # one partition: candidate pairs, verified
            pairs = candidate_pairs(*read_partition(store, order, p))
            return pairs, pairs[self._verify(store, order, pairs)]

        parts = dict(fan_out(group, c.num_partitions, self.fanout))
        # num_partitions >= 1, so there is always one array to concatenate (an empty one is (0, 2))
        pairs = np.unique(np.concatenate([parts[p][0] for p in range(c.num_partitions)]), axis=0)
        verified = np.unique(np.concatenate([parts[p][1] for p in range(c.num_partitions)]), axis=0)
        removed = self._clusters(store, order, verified)
        write_removed(self._workdir / "removed.json", removed)
        self.summary = {
            "shards": len(order),
            "docs_signed_now": total,
            "candidate_pairs": len(pairs),
            "verified_pairs": len(verified),
            "near_duplicates": len(removed),
        }
        print("minhash_dedup summary\n" + "\n".join(f"  {k:<16} {v:>10,}" for k, v in self.summary.items()))

    def _verify(self, store: ShardStore, order: list[str], pairs: np.ndarray) -> np.ndarray:
        """Exact Jaccard of each candidate pair, reading shingle sets through memory maps."""
        cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

        def get(key: int) -> np.ndarray:
            rank = key >> 32
            if rank not in cache:
                cache[rank] = (
                    np.load(store.path(order[rank], "shingles.npy"), mmap_mode="r"),
                    np.load(store.path(order[rank], "offsets.npy")),
                )
            sh, off = cache[rank]
            pos = key & 0xFFFFFFFF
            return np.asarray(sh[off[pos] : off[pos + 1]])

        ok = np.zeros(len(pairs), dtype=bool)
        for i, (ka, kb) in enumerate(pairs.tolist()):
            sa, sb = get(ka), get(kb)
            inter = len(np.intersect1d(sa, sb, assume_unique=True))
            ok[i] = inter / (len(sa) + len(sb) - inter) >= self.config.threshold
        return ok

    @staticmethod
    def _clusters(store: ShardStore, order: list[str], verified: np.ndarray) -> dict[str, str]:
        if len(verified) == 0:
            return {}
        nodes, inv = np.unique(verified, return_inverse=True)
        inv = inv.reshape(-1, 2)
        graph = coo_matrix((np.ones(len(inv)), (inv[:, 0], inv[:, 1])), shape=(len(nodes), len(nodes)))
        _, label = connected_components(graph, directed=False)
        survivor = np.full(label.max() + 1, np.iinfo(np.uint64).max, dtype=np.uint64)
        np.minimum.at(survivor, label, nodes)  # nodes are keys: lowest (shard, position) wins
        dropped = nodes != survivor[label]
        return removed_map(store, order, nodes[dropped], survivor[label][dropped], "minhash_dedup")
