"""`decontaminate`: drop documents that share a token 10-gram with a benchmark test item.

Normalisation (the same for index and documents, curation/dedup/store.py `batch_words`): lowercase, UTF-8;
a token is a maximal run of ASCII letters, digits, underscore or non-ASCII bytes (so accented words stay
whole); everything else (ASCII punctuation, whitespace, operators) separates tokens. So
`def has_close_elements(numbers: List[float])` -> `def has_close_elements numbers list float`. A batch is
tokenised and hashed in numpy (polynomial byte hash per token via prefix sums, rolling mix per n-gram): no
per-token Python. Index n-grams with fewer than 3 tokens of 2+ bytes that are not all digits are left out
(digit runs and single letters such as `0 1 2 3 4 5 6 7 8 9` are not evidence of contamination).

Index file (`.npz`, built by `infir curate build-decontam-index`): `hashes` sorted uint64 (one row per
(n-gram, item) pair), `items` the item number of each row, `item_names` ("HumanEval/0", "gsm8k/17"), and
`meta` (JSON: ngram, benchmarks, items without any n-gram). A batch of documents is checked with one
table gather (prefilter) and one `np.searchsorted` over the n-grams that pass it; a dropped document records the item names it hit in
`_decontam_hits`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from infir.config import ConfigError
from infir.curation.base import Doc, Step, doc_text
from infir.curation.dedup.store import batch_ngrams, batch_words, multi_ngram_hashes
from infir.curation.registry import register_step

#: an indexed n-gram needs this many tokens of 2+ bytes that are not all digits
MIN_WORDS = 3


def background_ngrams(texts: Sequence[str], ngram: int, chunk: int = 512) -> np.ndarray:
    """Sorted unique n-gram hashes of a background corpus (generic text no benchmark owns), in chunks."""
    parts = [
        np.unique(batch_ngrams(list(texts[i : i + chunk]), ngram, MIN_WORDS)[0])
        for i in range(0, len(texts), chunk)
    ]
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint64)


def stdlib_background(limit: int | None = None) -> tuple[list[str], str]:
    """Python's own standard library sources: generic code (`for i in range(n): for j in range(n)`, number
    word tables) that a benchmark's code shares with half the internet. Returns (texts, description)."""
    import sys
    import sysconfig

    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts and "test" not in p.parts)
    files = files[:limit] if limit else files
    texts = [f.read_text(encoding="utf-8", errors="replace") for f in files]
    return texts, f"python{sys.version_info.major}.{sys.version_info.minor} stdlib ({len(files)} files)"


def save_index(
    path: Path,
    items: list[tuple[str, str]],
    ngram: int,
    meta: dict[str, Any],
    background: np.ndarray | None = None,
) -> dict[str, Any]:
    """Index `(item name, item text)` pairs, leaving out n-grams found in `background` (sorted hashes of a
    generic corpus: a 10-gram every codebase has is no evidence of contamination); returns the summary."""
    grams, owner = batch_ngrams([text for _, text in items], ngram, MIN_WORDS)
    stoplisted = 0
    if background is not None and len(background):
        common = np.isin(grams, background)
        stoplisted = int(len(np.unique(grams[common])))
        grams, owner = grams[~common], owner[~common]
    pairs = np.unique(np.stack([grams, owner.astype(np.uint64)], 1), axis=0)  # one row per (n-gram, item)
    h, o = pairs[:, 0], pairs[:, 1].astype(np.int32)
    short_h, short_o, short_k = short_item_keys([text for _, text in items], ngram)
    covered = set(o.tolist()) | set(short_o.tolist())
    empty = [items[i][0] for i in sorted(set(range(len(items))) - covered)]
    order = np.lexsort((o, h))
    meta = {**meta, "ngram": ngram, "items": len(items), "ngrams": int(len(h)), "items_without_ngrams": empty,
            "stoplisted_ngrams": stoplisted, "short_items": int(len(short_h))}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:  # explicit handle: np.savez would append .npz to a path without it
        np.savez(
            f,
            hashes=h[order],
            items=o[order],
            item_names=np.array([n for n, _ in items], dtype=str),
            meta=np.array(json.dumps(meta)),
            short_hashes=short_h,
            short_items=short_o,
            short_lengths=short_k,
        )
    return meta


def short_item_keys(texts: Sequence[str], ngram: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Items shorter than `ngram` tokens have no n-gram, so none could ever match: each is indexed by its
    whole token run instead (a k-gram, k = its length), if it holds MIN_WORDS informative tokens (2+
    bytes, not all digits: `x = 1 + y` is no evidence; "sum of squares of the first n" is).
    Returns (hash, item, k) arrays; a document then matches when it contains that exact token run."""
    h, doc, length, digit = batch_words(list(texts), digits=True)
    counts = np.bincount(doc, minlength=len(texts))
    informative = np.bincount(doc, weights=((length > 1) & ~digit), minlength=len(texts))
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    picked = np.flatnonzero((counts < ngram) & (informative >= MIN_WORDS))
    # the rolling chain's raw value over the whole item (what filter_batch compares, multi_ngram_hashes raw)
    keys = [multi_ngram_hashes(h[starts[i] : starts[i] + counts[i]], (), raw=[int(counts[i])])[int(counts[i])][0]
            for i in picked]  # fmt: skip
    return (np.array(keys, dtype=np.uint64), picked.astype(np.int32), counts[picked].astype(np.int32))


def _text(doc: Doc) -> str:
    return doc_text(doc, "decontaminate")


@register_step("decontaminate")
class Decontaminate(Step):
    reasons = ("benchmark_contamination",)

    @dataclass
    class Config:
        index: str = ""
        #: n-grams of benchmark text a document must share before it is dropped
        min_hits: int = field(default=1, metadata={"ge": 1})
        hits_field: str = "_decontam_hits"

        def validate(self) -> None:
            if not self.index:
                raise ConfigError("index", "path of a decontamination index (.npz) is required")

    def __init__(self, config: Config):
        self.config = config
        self._hashes: np.ndarray | None = None

    def setup(self) -> None:
        if self._hashes is not None:
            return
        path = Path(self.config.index)
        if not path.is_file():
            raise ConfigError(
                "index",
                f"decontamination index {path} not found (build it with `infir curate build-decontam-index`)",
            )
        with np.load(path) as z:
            self._hashes, self._items = z["hashes"], z["items"]
            self._names = z["item_names"].tolist()
            self.meta = json.loads(str(z["meta"]))
            lengths = z.get("short_lengths", np.empty(0, np.int32))
            self._short = {}  # k -> (sorted whole-item hashes, their items); an older index has none
            for k in np.unique(lengths).tolist():
                keys, items = z["short_hashes"][lengths == k], z["short_items"][lengths == k]
                order = np.argsort(keys)
                self._short[int(k)] = (keys[order], items[order])
            self._short_table = np.zeros(1 << 16, dtype=bool)  # top 16 bits of every short item's hash
            self._short_table[z.get("short_hashes", np.empty(0, np.uint64)) >> np.uint64(48)] = True
        self.ngram = int(self.meta["ngram"])
        # membership prefilter: one byte per slot of the top `bits` hash bits, ~16 slots per indexed n-gram
        # (false-positive rate ~6%, then an exact searchsorted on the few survivors): a gather instead of
        # a binary search for the ~all n-grams that are not in the index
        self._bits = int(min(28, max(16, np.ceil(np.log2(max(len(self._hashes), 1) * 16)))))
        self._table = np.zeros(1 << self._bits, dtype=bool)
        self._table[self._hashes >> np.uint64(64 - self._bits)] = True

    def filter(self, doc: Doc) -> str | None:
        return self.filter_batch([doc])[0]

    def filter_batch(self, docs: Sequence[Doc]) -> list[str | None]:
        self.setup()
        # the batch's words once; every n-gram length the index needs (ngram, and each short item's
        # length) from one pass of the rolling hash chain
        words, word_doc, _, _ = batch_words([_text(d) for d in docs], digits=False)
        grams = multi_ngram_hashes(words, [self.ngram], raw=list(self._short)) if len(words) else {}

        def runs(k: int) -> tuple[np.ndarray, np.ndarray]:  # k-grams inside one document, and that document
            if len(words) < k:
                return np.empty(0, np.uint64), np.empty(0, np.int64)
            g, owner = grams[k], word_doc[: len(grams[k])]
            keep = owner == word_doc[k - 1 :]
            return g[keep], owner[keep]

        flat, owner = runs(self.ngram)
        hit = self._table[flat >> np.uint64(64 - self._bits)]
        maybe = np.flatnonzero(hit)
        pos = np.minimum(np.searchsorted(self._hashes, flat[maybe]), len(self._hashes) - 1)
        hit[maybe] = self._hashes[pos] == flat[maybe]
        counts = np.bincount(owner[hit], minlength=len(docs))
        short_hits: dict[int, list[int]] = {}
        for k, (keys, items) in self._short.items():  # keys sorted in setup()
            if len(words) < k:
                continue
            g = grams[k]
            cand = np.flatnonzero(self._short_table[g >> np.uint64(48)])  # a gather; few survive it
            cand = cand[word_doc[cand] == word_doc[cand + k - 1]]  # the k words lie in one document
            pos = np.minimum(np.searchsorted(keys, g[cand]), len(keys) - 1)
            match = keys[pos] == g[cand]
            for d, i in zip(word_doc[cand[match]].tolist(), items[pos[match]].tolist()):
                short_hits.setdefault(d, []).append(i)
        for d in short_hits:
            counts[d] += len(short_hits[d])
        out: list[str | None] = [None] * len(docs)
        for d in np.flatnonzero(counts >= self.config.min_hits):
            # rare path (contaminated docs only): expand each hit n-gram to every item that holds it
            g = flat[owner == d]
            lo, hi = np.searchsorted(self._hashes, g, "left"), np.searchsorted(self._hashes, g, "right")
            found = [self._items[a:b] for a, b in zip(lo, hi)] + [
                np.asarray(short_hits.get(int(d), []), np.int32)
            ]
            items = np.unique(np.concatenate(found))
            docs[d][self.config.hits_field] = [self._names[i] for i in items]
            out[d] = "benchmark_contamination"
        return out
