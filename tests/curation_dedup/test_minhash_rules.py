"""MinHash's pieces against plain-Python statements of what each computes (curation/dedup/minhash.py):
shingles per document in a batch, the permutations a `minhash-v1` session saved, signatures over chunk
edges, band keys, candidate pairs from buckets, the Jaccard threshold at its exact value, the progress
lines and summary. test_dedup.py checks whole runs on real text; these pin each stage, so a change that
would silently alter saved shards (whose markers say `minhash-v1`) fails here."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import numpy as np
import pytest

from infir.config import ConfigError
from infir.curation.dedup import minhash
from infir.curation.dedup.minhash import (
    MinHashDedup,
    band_hashes,
    candidate_pairs,
    permutations,
    shingle_set,
    shingle_sets,
    signatures,
)
from infir.curation.registry import build_step

from .test_dedup import run

M64 = (1 << 64) - 1
MIX = 0x9E3779B97F4A7C15


def test_shingles_of_a_batch_equal_each_documents_own():
    texts = ["", "one", "one two three four", "a b c d e", "a b c d e f", "x y " * 10, "p q r s t u v w"]
    batch = shingle_sets(texts, 5)
    for text, got in zip(texts, batch):
        alone = shingle_set(text, 5)
        assert np.array_equal(got, alone) and got.dtype == np.uint64
        words = text.split()
        distinct = (
            len({tuple(words[i : i + 5]) for i in range(len(words) - 4)})
            if len(words) >= 5
            else min(len(words), 1)
        )
        assert len(got) == distinct, text
        assert (np.diff(got.astype(np.float64)) > 0).all()  # sorted and unique
    assert len(shingle_sets([], 5)) == 0


def test_the_saved_sessions_permutations_for_seed_1():
    a, b = permutations(4, 1)
    # what minhash-v1 wrote: changing these silently invalidates every saved shard
    assert a.tolist() == [2032329983, 2198257139, 3243419751, 4082210491]
    assert b.tolist() == [149690573, 619160822, 3534516178, 4074418350]
    a, b = permutations(112, 1)
    assert a.dtype == b.dtype == np.uint32 and (a % 2 == 1).all()  # odd: x -> a x + b is a bijection
    assert a.max() > 2**31 and b.max() > 2**31 and len(set(a.tolist())) == 112
    assert not np.array_equal(permutations(4, 2)[0], permutations(4, 1)[0])


def naive_signature(s: np.ndarray, a: np.ndarray, b: np.ndarray) -> list[int]:
    return [
        min(((int(ai) * (int(x) >> 32)) + int(bi)) & 0xFFFFFFFF for x in s.tolist()) for ai, bi in zip(a, b)
    ]


def test_signatures_equal_the_definition_across_chunk_edges(monkeypatch):
    rng = np.random.default_rng(0)
    sets = [np.unique(rng.integers(0, 2**63, size=k, dtype=np.uint64)) for k in (3, 7, 1, 2, 10, 4, 4)]
    a, b = permutations(6, 3)
    expected = [naive_signature(s, a, b) for s in sets]
    for chunk in (65_536, 5, 8, 1):  # one block; several; a set larger than a block; one set per block
        monkeypatch.setattr(minhash, "_CHUNK", chunk)
        sig = signatures(sets, a, b)
        assert sig.dtype == np.uint32 and sig.tolist() == expected, chunk
    assert signatures([], a, b).shape == (0, 6)


def naive_band_keys(sig: list[int], bands: int, rows: int) -> list[int]:
    out = []
    for band in range(bands):
        h = band * MIX & M64
        for r in range(rows):
            h = (((h ^ (h >> 29)) * MIX) + sig[band * rows + r]) & M64
        out.append(h ^ (h >> 31))
    return out


def test_band_keys_equal_the_definition():
    rng = np.random.default_rng(1)
    sig = rng.integers(0, 2**32, size=(3, 12), dtype=np.uint64).astype(np.uint32)
    sig[1] = sig[0]
    sig[2, :4] = sig[0, :4]  # the same first band only
    keys = band_hashes(sig, 3, 4)
    assert keys.dtype == np.uint64 and keys.shape == (3, 3)
    assert keys.tolist() == [naive_band_keys(row, 3, 4) for row in sig.tolist()]
    assert keys[0].tolist() == keys[1].tolist() and keys[2, 0] == keys[0, 0] and keys[2, 1] != keys[0, 1]
    same = band_hashes(np.zeros((1, 4), np.uint32), 2, 2)
    assert same[0, 0] != same[0, 1]  # identical rows in two bands: never one bucket


def test_candidate_pairs_from_buckets():
    keys = np.array([7, 7, 7, 9, 9, 5, 8, 7], dtype=np.uint64)
    docs = np.array([30, 10, 20, 40, 50, 60, 70, 10], dtype=np.uint64)
    # bucket 7 holds 10 (twice), 20, 30: every member meets the first and its predecessor
    assert candidate_pairs(keys, docs).tolist() == [[10, 20], [10, 30], [20, 30], [40, 50]]
    assert candidate_pairs(np.array([1, 2], np.uint64), np.array([1, 2], np.uint64)).shape == (0, 2)
    big = candidate_pairs(np.zeros(5, np.uint64), np.arange(5, dtype=np.uint64))
    assert {tuple(p) for p in big.tolist()} == {(0, i) for i in range(1, 5)} | {(i, i + 1) for i in range(4)}


def test_the_jaccard_threshold_is_inclusive(tmp_path):
    # one-word shingles; 6 shared words of 8 in all: Jaccard exactly 0.75; 50 one-row bands: a sure collision
    a = {"id": "a", "text": "w1 w2 w3 w4 w5 w6 w7"}
    b = {"id": "b", "text": "w1 w2 w3 w4 w5 w6 w8"}
    cfg = dict(ngram=1, bands=50, rows=1, num_partitions=1)
    at = run(MinHashDedup(MinHashDedup.Config(threshold=0.75, **cfg)), {"s": [a, b]}, tmp_path / "at")
    assert at == {"a": (None, None), "b": ("near_duplicate", "a")}
    above = run(MinHashDedup(MinHashDedup.Config(threshold=0.76, **cfg)), {"s": [a, b]}, tmp_path / "above")
    assert above == {"a": (None, None), "b": (None, None)}


def test_defaults_and_bounds():
    c = MinHashDedup().config
    assert (c.ngram, c.bands, c.rows, c.threshold, c.seed, c.num_partitions) == (5, 14, 8, 0.75, 1, 16)
    assert MinHashDedup()._fingerprint() == "minhash-v1-n5-b14x8-s1-p16"
    for field, ok, bad in [("bands", 1, 0), ("rows", 1, 0), ("ngram", 1, 0), ("num_partitions", 4096, 4097),
                           ("num_partitions", 1, 0), ("threshold", 1.0, 0.0)]:  # fmt: skip
        assert getattr(build_step({"type": "minhash_dedup", field: ok}).config, field) == ok
        with pytest.raises(ConfigError, match=rf"steps\[1\]\.{field}"):
            build_step({"type": "minhash_dedup", field: bad}, "steps[1]")


def test_progress_lines_and_summary(tmp_path, capsys, monkeypatch):
    clock = itertools.count(100.0, 0.8)  # each reading 0.8 s after the last
    monkeypatch.setattr(minhash, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    sizes = {"s0": 3, "s1": 3, "s2": 3, "s3": 2}
    docs = {s: [{"id": f"{s}d{j}", "text": f"text {s} {j} " * 6} for j in range(n)] for s, n in sizes.items()}
    docs["s2"].append({"id": "copy", "text": docs["s0"][0]["text"]})
    step = MinHashDedup(MinHashDedup.Config(num_partitions=2))
    run(step, docs, tmp_path)
    lines = capsys.readouterr().out.splitlines()
    # rate: docs so far / seconds so far; ETA: seconds per shard so far x shards left
    assert lines[:4] == [
        "minhash_dedup: [1/4] s0: 3 docs (4 docs/s, ETA 2s)",  # 3 / 0.8 s; 0.8 s x 3
        "minhash_dedup: [2/4] s1: 3 docs (4 docs/s, ETA 2s)",  # 6 / 1.6 s; 0.8 s x 2
        "minhash_dedup: [3/4] s2: 4 docs (4 docs/s, ETA 1s)",  # 10 / 2.4 s; 0.8 s x 1
        "minhash_dedup: [4/4] s3: 2 docs (4 docs/s, ETA 0s)",
    ]
    assert lines[4] == "minhash_dedup summary"
    assert step.summary == {"shards": 4, "docs_signed_now": 12, "candidate_pairs": 1, "verified_pairs": 1,
                            "near_duplicates": 1}  # fmt: skip
    assert lines[5:] == [f"  {k:<16} {v:>10,}" for k, v in step.summary.items()]
    run(MinHashDedup(MinHashDedup.Config(num_partitions=2)), docs, tmp_path)
    again = capsys.readouterr().out.splitlines()
    assert again[:4] == [f"minhash_dedup: [{i}/4] s{i - 1}: done earlier, skipped" for i in (1, 2, 3, 4)]


def test_documents_without_words_are_never_candidates(tmp_path):
    text = "one two three four five six seven eight"
    docs = {"s": [{"id": "e1", "text": ""}, {"id": "a", "text": text}, {"id": "e2", "text": "!!! ..."},
                  {"id": "b", "text": text.upper()}, {"id": "s1", "text": "hello there"},
                  {"id": "s2", "text": "Hello, there!"}, {"id": "e3", "text": ""}],
            "t-empty": []}  # fmt: skip
    step = MinHashDedup(MinHashDedup.Config(num_partitions=1))
    result = run(step, docs, tmp_path)
    # two clusters: the long pair, and two texts shorter than a shingle (one shingle each)
    assert result == {"e1": (None, None), "a": (None, None), "e2": (None, None), "b": ("near_duplicate", "a"),
                      "s1": (None, None), "s2": ("near_duplicate", "s1"), "e3": (None, None)}  # fmt: skip
    assert step.summary["candidate_pairs"] == 2 and step.summary["near_duplicates"] == 2


def test_signature_blocks_stay_within_the_chunk(monkeypatch):
    sizes = [3, 2, 4, 1, 9, 2, 2]
    sets = [np.arange(1, k + 1, dtype=np.uint64) << np.uint64(32) for k in sizes]
    blocks = []
    real = np.concatenate

    def spy(arrays, *a, **kw):
        out = real(arrays, *a, **kw)
        blocks.append(len(out))
        return out

    monkeypatch.setattr(minhash, "_CHUNK", 5)
    a, b = permutations(3, 1)
    monkeypatch.setattr(np, "concatenate", spy)
    signatures(sets, a, b)
    monkeypatch.undo()
    # greedy blocks of at most 5 shingles; a set larger than a block is a block of its own
    assert blocks == [5, 5, 9, 4]


def test_documents_are_shingled_in_batches(monkeypatch, tmp_path):
    calls = []
    real = minhash.shingle_sets
    monkeypatch.setattr(minhash, "_BATCH", 4)
    monkeypatch.setattr(minhash, "shingle_sets", lambda texts, n: calls.append(len(texts)) or real(texts, n))
    docs = {"s": [{"id": str(i), "text": f"doc {i} words here now"} for i in range(10)]}
    run(MinHashDedup(MinHashDedup.Config(num_partitions=1)), docs, tmp_path)
    assert calls == [4, 4, 2]


def test_verification_rejects_a_band_collision_below_the_threshold(tmp_path):
    # Jaccard 1/8 (one shared word of eight); fifty one-row bands: the pair collides, verification says no
    a = {"id": "a", "text": "w1 w2 w3 w4"}
    b = {"id": "b", "text": "w1 w5 w6 w7 w8"}
    step = MinHashDedup(MinHashDedup.Config(ngram=1, bands=50, rows=1, threshold=0.2, num_partitions=1))
    assert run(step, {"s": [a, b]}, tmp_path) == {"a": (None, None), "b": (None, None)}
    assert step.summary["candidate_pairs"] == 1 and step.summary["verified_pairs"] == 0
