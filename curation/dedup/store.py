"""Shared by dedup and decontamination: the numpy tokeniser/n-gram hashes (`batch_words`, `batch_ngrams`),
shard ordering, per-shard done markers, hash-range partitions on disk.

A document's global key is `shard_rank << 32 | position`, where `shard_rank` is the shard's index in the
sorted list of shard names; "lowest key wins" is therefore "first by (shard name, position)" and does not
depend on which worker finished first.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from infir.curation.base import GlobalStep

_MIX = np.uint64(0x9E3779B97F4A7C15)


def ngram_hashes(wh: np.ndarray, n: int) -> np.ndarray:
    """Order-sensitive uint64 hash of every run of `n` consecutive word hashes (vectorised; numpy wraps
    uint64 overflow, which is what we want). Fewer than n words -> one hash of all of them."""
    m = len(wh) - n + 1
    if m <= 0:
        if len(wh) == 0:
            return np.empty(0, dtype=np.uint64)
        n, m = len(wh), 1
    with np.errstate(over="ignore"):
        h = wh[:m].copy()
        for i in range(1, n):
            h = (h ^ (h >> np.uint64(31))) * _MIX + wh[i : i + m]
        h ^= h >> np.uint64(29)
    return h


def multi_ngram_hashes(wh: np.ndarray, ks: Sequence[int], raw: Sequence[int] = ()) -> dict[int, np.ndarray]:
    """`ngram_hashes(wh, k)` for every k in `ks` (each >= 1), in one pass of the rolling chain: the k-gram
    hash is the chain's value after k words, so all lengths up to max(ks) cost what the longest alone costs.
    Lengths in `raw` get the chain's value itself (no final mix, no copy): a key only compared with keys
    made the same way, for lookups where one more pass over every n-gram would cost more than the rest."""
    out: dict[int, np.ndarray] = {}
    want, raw = set(ks) | set(raw), set(raw)
    if len(wh) == 0:
        return {k: np.empty(0, dtype=np.uint64) for k in want}
    with np.errstate(over="ignore"):
        h = wh.copy()
        for k in range(1, max(want) + 1):
            if k > 1:
                m = len(wh) - k + 1
                if m <= 0:
                    break
                h = (h[:m] ^ (h[:m] >> np.uint64(31))) * _MIX + wh[k - 1 : k - 1 + m]
            if k in raw:
                out[k] = h
            elif k in want:
                out[k] = h ^ (h >> np.uint64(29))
    for k in want - set(out):  # fewer than k words (never asked for raw: callers skip them)
        out[k] = ngram_hashes(wh, k)
    return out


def run_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """True where a run of equal values starts in a sorted array (empty-safe)."""
    first = np.ones(len(sorted_keys), dtype=bool)
    first[1:] = sorted_keys[1:] != sorted_keys[:-1]
    return first


def doc_key(shard_rank: int, position: int) -> int:
    return (shard_rank << 32) | position


def shard_order(shards: Mapping[str, Any], sources: Sequence[str] | None = None) -> list[str]:
    """The order in which duplicates compete (the first copy survives): shard names sorted, or in a
    multi-source run (shards named `<source>/<shard>`) by the sources' order on the command line, best
    first, then by name."""
    if not sources:
        return sorted(shards)
    rank = {s: i for i, s in enumerate(sources)}
    return sorted(shards, key=lambda name: (rank.get(name.split("/", 1)[0], len(rank)), name))


def safe_name(shard: str) -> str:
    """A filesystem-safe, collision-free file stem for a shard name (names may hold slashes)."""
    stem = re.sub(r"[^\w.-]+", "_", shard)[-80:]
    return f"{stem}-{hashlib.sha1(shard.encode()).hexdigest()[:8]}"


class ShardStore:
    """`<root>/shards/<shard>.*` per-shard outputs with a `.done` marker written last (atomic enough:
    a crash before the marker means the shard is redone)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        (self.root / "shards").mkdir(parents=True, exist_ok=True)

    def path(self, shard: str, suffix: str) -> Path:
        return self.root / "shards" / f"{safe_name(shard)}.{suffix}"

    def done(self, shard: str, fingerprint: str) -> bool:
        marker = self.path(shard, "done")
        return marker.is_file() and marker.read_text() == fingerprint

    def mark_done(self, shard: str, fingerprint: str) -> None:
        self.path(shard, "done").write_text(fingerprint)


def partition_of(hashes: np.ndarray, num_partitions: int) -> np.ndarray:
    """Hash range -> partition: the top bits, so each partition holds a contiguous slice of hash space."""
    return ((hashes >> np.uint64(40)) * np.uint64(num_partitions) >> np.uint64(24)).astype(np.int64)


def write_partitions(
    store: ShardStore, shard: str, keys: np.ndarray, payload: np.ndarray, parts: int
) -> None:
    """Split (key hash, payload) records of one shard into `parts` files by key-hash range."""
    part = partition_of(keys, parts)
    order = np.argsort(part, kind="stable")
    bounds = np.searchsorted(part[order], np.arange(parts + 1))
    for p in range(parts):
        sel = order[bounds[p] : bounds[p + 1]]
        np.savez(store.path(shard, f"p{p:03d}.npz"), keys=keys[sel], payload=payload[sel])


def read_partition(store: ShardStore, shards: list[str], p: int) -> tuple[np.ndarray, np.ndarray]:
    keys, payload = [], []
    for shard in shards:
        with np.load(store.path(shard, f"p{p:03d}.npz")) as z:
            keys.append(z["keys"])
            payload.append(z["payload"])
    return np.concatenate(keys), np.concatenate(payload)


def read_shard_ids(open_shard: Callable[[], Iterable[dict]], shard: str) -> Iterable[tuple[int, dict]]:
    """Enumerate a shard's docs, checking each has a string `id` and `text` (error names shard:position)."""
    for pos, doc in enumerate(open_shard()):
        if not isinstance(doc.get("text"), str) or "id" not in doc:
            raise ValueError(f"{shard}: document {pos} lacks a string `text` or an `id` field")
        yield pos, doc


def removed_map(store: ShardStore, order: list[str], removed: np.ndarray, survivors: np.ndarray, step: str):
    """{removed doc id: survivor doc id} from global keys, reading each shard's ids.json once. `filter`
    sees only documents, so ids must be unique: a removed doc sharing its survivor's id is an error."""
    cache: dict[int, list[str]] = {}

    def id_of(key: int) -> str:
        rank = key >> 32
        if rank not in cache:
            cache[rank] = json.loads(store.path(order[rank], "ids.json").read_text())
        return cache[rank][key & 0xFFFFFFFF]

    out = {}
    for r, s in zip(removed.tolist(), survivors.tolist()):
        rid, sid = id_of(r), id_of(s)
        if rid == sid:
            raise ValueError(
                f"{step}: {order[r >> 32]}:{r & 0xFFFFFFFF} and {order[s >> 32]}:{s & 0xFFFFFFFF} share id "
                f"{rid!r}; document ids must be unique across the corpus"
            )
        out[rid] = sid
    return out


def write_removed(path: Path, removed: dict[str, str]) -> None:
    path.write_text(json.dumps(removed, sort_keys=True))


def read_removed(path: Path, step: str) -> dict[str, str]:
    if not path.is_file():
        raise RuntimeError(f"{step}: {path} not found; call fit(shards, workdir) before filter()")
    return json.loads(path.read_text())


# --- byte-level batch tokenisation (decontamination): no per-word Python at all -------------------------
#: word bytes: ASCII letters, digits, underscore, and every non-ASCII byte (so UTF-8 letters stay inside words)
_WORD_BYTE = np.zeros(256, dtype=bool)
for _lo, _hi in ((48, 58), (65, 91), (97, 123), (95, 96), (128, 256)):
    _WORD_BYTE[_lo:_hi] = True
_DIGIT_BYTE = np.zeros(256, dtype=bool)
_DIGIT_BYTE[48:58] = True
_P = np.uint64(0x100000001B3)  # odd, so invertible mod 2^64
_Q = np.uint64(pow(0x100000001B3, -1, 2**64))
_POW: dict[str, np.ndarray] = {}


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    if len(_POW.get("p", ())) < n:
        size = max(n, 4 * len(_POW.get("p", ())), 1 << 20)
        with np.errstate(over="ignore"):
            _POW["p"] = np.cumprod(np.r_[np.uint64(1), np.full(size - 1, _P)], dtype=np.uint64)
            _POW["q"] = np.cumprod(np.r_[np.uint64(1), np.full(size - 1, _Q)], dtype=np.uint64)
    return _POW["p"][:n], _POW["q"][:n]


def batch_words(
    texts: list[str], digits: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Words of a batch of texts, all numpy: lowercase, UTF-8, a word = a maximal run of word bytes.
    Returns (word hash uint64, document index, word length in bytes, all-digits flag or None) per word.
    The hash is a polynomial of the word's bytes (position independent, from prefix sums with the
    inverse base), then mixed."""
    encoded = [t.lower().encode() for t in texts]
    buf = np.frombuffer(b"\n".join(encoded) + b"\n", dtype=np.uint8)
    doc_start = np.r_[0, np.cumsum([len(e) + 1 for e in encoded])[:-1]]
    word = np.zeros(len(buf) + 2, dtype=np.int8)
    word[1:-1] = _WORD_BYTE[buf]
    edge = np.diff(word)
    starts, ends = np.flatnonzero(edge == 1), np.flatnonzero(edge == -1)
    p, q = _powers(len(buf) + 1)
    with np.errstate(over="ignore"):
        prefix = np.zeros(len(buf) + 1, dtype=np.uint64)
        np.cumsum(buf * q[: len(buf)], out=prefix[1:])
        h = (prefix[ends] - prefix[starts]) * p[starts]
        h ^= h >> np.uint64(29)
        h *= _MIX
        h ^= h >> np.uint64(32)
    length = ends - starts
    doc = np.searchsorted(doc_start, starts, side="right") - 1
    if not digits:
        return h, doc, length, None
    ndig = np.zeros(len(buf) + 1, dtype=np.int64)
    np.cumsum(_DIGIT_BYTE[buf], out=ndig[1:])
    return h, doc, length, (ndig[ends] - ndig[starts]) == length


def batch_ngrams(texts: list[str], n: int, min_informative: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n-gram hash, document index) of every run of n words inside one text. With `min_informative`,
    keep only n-grams holding that many words of 2+ bytes that are not all digits."""
    h, doc, length, digit = batch_words(texts, digits=bool(min_informative))
    grams = ngram_hashes(h, n) if len(h) >= n else np.empty(0, dtype=np.uint64)
    if len(grams) == 0:
        return grams, np.empty(0, dtype=np.int64)
    keep = doc[: len(grams)] == doc[n - 1 :]
    if min_informative:
        good = ((length > 1) & ~digit).astype(np.int64)
        keep &= np.convolve(good, np.ones(n, dtype=np.int64), mode="valid") >= min_informative
    return grams[keep], doc[: len(grams)][keep]


class RemovalListStep(GlobalStep):
    """A GlobalStep whose fit() writes `removed.json` (doc id -> survivor id) under `self._workdir`; filter()
    then drops those ids with the step's single reason and records the survivor in `survivor_field`."""

    _workdir: Path | None
    _removed: dict[str, str] | None

    def setup(self) -> None:
        if self._removed is None:
            if self._workdir is None:
                raise RuntimeError(f"{self.name}: call fit(shards, workdir) before filter()")
            self._removed = read_removed(self._workdir / "removed.json", self.name)

    def filter(self, doc: dict) -> str | None:
        self.setup()
        survivor = self._removed.get(str(doc["id"]))
        if survivor is None:
            return None
        doc[self.config.survivor_field] = survivor
        return self.reasons[0]
