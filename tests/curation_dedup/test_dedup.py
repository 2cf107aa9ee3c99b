"""Exact and MinHash near-dedup over several shards of real text with planted copies."""

import random
import re

import numpy as np
import pytest

from infir.config import ConfigError
from infir.curation.dedup.exact import ExactDedup
from infir.curation.dedup.minhash import MinHashDedup, shingle_set
from infir.curation.registry import build_step


def openers(shards: dict[str, list[dict]], calls: dict[str, int] | None = None):
    """name -> callable yielding fresh copies of the docs (and counting opens, for the resume test)."""

    def make(name):
        def open_shard():
            if calls is not None:
                calls[name] = calls.get(name, 0) + 1
            return iter([dict(d) for d in shards[name]])

        return open_shard

    return {name: make(name) for name in shards}


def edit_words(text: str, every: int, seed: int) -> str:
    """Replace about one word in `every` with another word of the same text (a realistic near copy)."""
    rng = random.Random(seed)
    words = text.split()
    for i in range(0, len(words), every):
        j = i + rng.randrange(min(every, len(words) - i))
        words[j] = rng.choice(words) + "x"
    return " ".join(words)


def jaccard(a: str, b: str) -> float:
    sa, sb = shingle_set(a, 5), shingle_set(b, 5)
    inter = len(np.intersect1d(sa, sb))
    return inter / (len(sa) + len(sb) - inter)


def run(step, shards, workdir, calls=None):
    step.fit(openers(shards, calls), workdir)
    out = {}
    for docs in shards.values():
        for doc in docs:
            doc = dict(doc)
            out[doc["id"]] = (step.filter(doc), doc.get(step.config.survivor_field))
    return out


def test_exact_dedup_keeps_first_by_shard_then_position(web_docs, tmp_path):
    a, b = web_docs[:20], web_docs[20:40]
    recased = {"id": "b-copy", "text": "  " + a[3]["text"].upper().replace(" ", "\n ") + "\n"}
    shards = {
        "b.jsonl": b[:5] + [recased] + b[5:],
        "a.jsonl": a[:10] + [{"id": "a-copy", "text": a[2]["text"]}] + a[10:],
    }
    result = run(ExactDedup(), shards, tmp_path)
    dropped = {k: v for k, v in result.items() if v[0]}
    assert dropped == {
        "a-copy": ("exact_duplicate", a[2]["id"]),
        "b-copy": ("exact_duplicate", a[3]["id"]),
    }


def test_minhash_drops_planted_near_copies_across_shards(web_docs, tmp_path):
    # long documents as originals, so a copy with one edit per 150 words really is ~0.93 similar
    long = [d for d in web_docs if len(d["text"].split()) >= 400]
    originals = long[:30]
    others = [d for d in web_docs if d not in originals][:60]
    # one edit in 150 words -> Jaccard ~0.93, found by 14x8 bands with probability > 0.999 (at 0.8 only ~0.92)
    near = [{"id": f"near-{i}", "text": edit_words(d["text"], 150, i)} for i, d in enumerate(originals[:15])]
    far = [{"id": f"far-{i}", "text": edit_words(d["text"], 3, i)} for i, d in enumerate(originals[15:25])]
    assert all(jaccard(n["text"], o["text"]) >= 0.88 for n, o in zip(near, originals))
    assert all(jaccard(f["text"], o["text"]) < 0.75 for f, o in zip(far, originals[15:]))
    shards = {
        "s0": originals[:15] + others[:20],
        "s1": others[20:40] + near[:8] + far[:5],
        "s2": near[8:] + originals[15:] + others[40:] + far[5:],
    }
    step = MinHashDedup()
    result = run(step, shards, tmp_path)
    for i, o in enumerate(originals[:15]):
        assert result[f"near-{i}"] == ("near_duplicate", o["id"])
    # heavily edited copies, the originals and unrelated documents stay
    assert all(reason is None for k, (reason, _) in result.items() if not k.startswith("near-"))
    assert step.summary["near_duplicates"] == 15
    assert step.summary["verified_pairs"] <= step.summary["candidate_pairs"]


def test_minhash_survivor_is_deterministic(web_docs, tmp_path):
    doc = web_docs[0]
    copy = {"id": "copy", "text": edit_words(doc["text"], 150, 1)}
    shards = {"z-last": [doc], "a-first": web_docs[5:10] + [copy]}
    forward = run(MinHashDedup(), shards, tmp_path / "f")
    backward = run(MinHashDedup(), dict(reversed(list(shards.items()))), tmp_path / "b")
    assert forward == backward
    # the copy sits in the shard whose name sorts first, so it survives and the original goes
    assert forward[doc["id"]] == ("near_duplicate", "copy") and forward["copy"] == (None, None)


def test_minhash_rerun_skips_finished_shards(web_docs, tmp_path):
    near = {"id": "near", "text": edit_words(web_docs[0]["text"], 150, 7)}
    shards = {"s0": web_docs[:20], "s1": web_docs[20:40] + [near], "s2": web_docs[40:60]}
    calls: dict[str, int] = {}
    first = run(MinHashDedup(), shards, tmp_path, calls)
    assert calls == {"s0": 1, "s1": 1, "s2": 1}
    # a crash after s0 only: drop the other markers and rerun with a fresh step instance
    for marker in (tmp_path / "minhash_dedup" / "shards").glob("s[12]-*.done"):
        marker.unlink()
    second = run(MinHashDedup(), shards, tmp_path, calls)
    assert calls == {"s0": 1, "s1": 2, "s2": 2}
    assert first == second and first["near"][0] == "near_duplicate"
    # a different banding invalidates every shard
    run(MinHashDedup(MinHashDedup.Config(bands=16, rows=7)), shards, tmp_path, calls)
    assert calls == {"s0": 2, "s1": 3, "s2": 3}


def test_filter_before_fit_and_bad_docs_fail_clearly(tmp_path):
    with pytest.raises(RuntimeError, match="fit"):
        MinHashDedup().filter({"id": "x", "text": "y"})
    with pytest.raises(ValueError, match=r"s0: document 1"):
        ExactDedup().fit(openers({"s0": [{"id": 1, "text": "a"}, {"id": 2}]}), tmp_path)
    with pytest.raises(ValueError, match=r"s0:1 and s0:0 share id 'same'"):
        ExactDedup().fit(openers({"s0": [{"id": "same", "text": "a b"}] * 2}), tmp_path / "dup")


def test_steps_build_from_yaml_specs_strictly():
    step = build_step({"type": "minhash_dedup", "threshold": 0.8, "bands": 20, "rows": 5})
    assert isinstance(step, MinHashDedup) and step.config.threshold == 0.8
    assert isinstance(build_step({"type": "exact_dedup"}), ExactDedup)
    with pytest.raises(ConfigError, match=re.escape("steps[2].threshold")):
        build_step({"type": "minhash_dedup", "threshold": 1.5}, "steps[2]")


def test_minhash_verification_keeps_band_collisions_below_the_threshold(web_docs, tmp_path):
    """40 bands of 1 row: copies at Jaccard ~0.3-0.7 collide in some band almost surely, so they become
    candidates; the exact-Jaccard check must keep them (skipping it would remove every collision)."""
    long = [d for d in web_docs if len(d["text"].split()) >= 400][:10]
    far = [{"id": f"far-{i}", "text": edit_words(d["text"], 20, i)} for i, d in enumerate(long)]
    sims = [jaccard(f["text"], o["text"]) for f, o in zip(far, long)]
    assert all(0.3 < s < 0.75 for s in sims), sims
    step = MinHashDedup(MinHashDedup.Config(bands=40, rows=1, threshold=0.75))
    result = run(step, {"a": long, "b": far}, tmp_path)
    assert all(reason is None for reason, _ in result.values())  # nothing removed
    assert step.summary["candidate_pairs"] >= 8 and step.summary["verified_pairs"] == 0, step.summary
