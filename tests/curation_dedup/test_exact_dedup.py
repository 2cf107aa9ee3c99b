"""Exact dedup's own rules (curation/dedup/exact.py): the normalisation, the progress lines and summary it
prints, its partition count and bounds, and a rerun that skips finished shards unless their rank moved."""

import itertools
from types import SimpleNamespace

import pytest

from infir.config import ConfigError
from infir.curation.dedup import exact
from infir.curation.dedup.exact import ExactDedup, normalised_hash
from infir.curation.dedup.store import safe_name
from infir.curation.registry import build_step

from .test_dedup import openers, run

DOCS = {
    "a.jsonl": [{"id": "a0", "text": "One  Two\nthree"}, {"id": "a1", "text": "four"}],
    "b.jsonl": [
        {"id": "b0", "text": " one two THREE "},
        {"id": "b1", "text": "five"},
        {"id": "b2", "text": "FOUR"},
    ],
}


def test_normalisation_is_case_and_whitespace_blind_only():
    assert normalised_hash("One  Two\nthree") == normalised_hash(" one two THREE ")
    assert normalised_hash("a b") != normalised_hash("ab")
    assert normalised_hash("a.b") != normalised_hash("a b")


def test_progress_lines_and_summary(tmp_path, capsys, monkeypatch):
    clock = itertools.count(1000.0, 2.5)  # each reading 2.5 s after the last
    monkeypatch.setattr(exact, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    result = run(ExactDedup(), DOCS, tmp_path)
    assert result == {
        "a0": (None, None), "a1": (None, None), "b0": ("exact_duplicate", "a0"), "b1": (None, None),
        "b2": ("exact_duplicate", "a1"),
    }  # fmt: skip
    assert capsys.readouterr().out.splitlines() == [
        "exact_dedup: [1/2] a.jsonl: 2 docs hashed (2.5s)",  # seconds since the fit started
        "exact_dedup: [2/2] b.jsonl: 3 docs hashed (5.0s)",
        "exact_dedup: 2 exact duplicates across 2 shards",
    ]


def test_default_partitions_and_their_bounds(tmp_path):
    step = ExactDedup()
    assert step.config.num_partitions == 16
    step.fit(openers(DOCS), tmp_path)
    shards = tmp_path / "exact_dedup" / "shards"
    for name in DOCS:
        assert len(list(shards.glob(f"{safe_name(name)}.p*.npz"))) == 16
    for ok in (1, 4096):
        assert build_step({"type": "exact_dedup", "num_partitions": ok}).config.num_partitions == ok
    for bad in (0, 4097):
        with pytest.raises(ConfigError, match=r"steps\[0\]\.num_partitions"):
            build_step({"type": "exact_dedup", "num_partitions": bad}, "steps[0]")
    one = run(ExactDedup(ExactDedup.Config(num_partitions=1)), DOCS, tmp_path / "one")
    assert one == run(ExactDedup(), DOCS, tmp_path / "default")


def test_a_rerun_skips_finished_shards_unless_their_rank_moved(tmp_path, capsys):
    calls: dict[str, int] = {}
    first = run(ExactDedup(), DOCS, tmp_path, calls)
    capsys.readouterr()
    assert run(ExactDedup(), DOCS, tmp_path, calls) == first
    assert calls == {"a.jsonl": 1, "b.jsonl": 1}
    out = capsys.readouterr().out
    assert "exact_dedup: a.jsonl: done earlier, skipped" in out and "b.jsonl: done earlier" in out
    # a new shard that sorts first moves both ranks: both are hashed again, and the new shard's copy wins
    more = {"0.jsonl": [{"id": "z", "text": "five"}], **DOCS}
    again = run(ExactDedup(), more, tmp_path, calls)
    assert calls == {"0.jsonl": 1, "a.jsonl": 2, "b.jsonl": 2}
    assert again["b1"] == ("exact_duplicate", "z")
