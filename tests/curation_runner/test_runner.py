"""The runner on real text: funnel consistency, rejects, malformed input, Parquet, CLI, anneal helpers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from infir.config import ConfigError
from infir.curation.pipeline import PipelineConfig, run_pipeline

from .helpers import DEMO, write_corpus

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[2]

REAL_STEPS = [
    {"type": "gopher_repetition"},
    {"type": "c4_quality"},  # rewrites text (drops short lines): the funnel must still add up
    {"type": "fineweb_quality"},
    {"type": "exact_dedup", "num_partitions": 4},
    {"type": "minhash_dedup", "num_partitions": 4},
    {"type": "test_min_words", "min_words": 20},
]


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_real_text_funnel_is_consistent(tmp_path):
    corpus = write_corpus(tmp_path / "in", n_shards=4, docs_per_shard=150, malformed_every=50)
    cfg = PipelineConfig(name="real", steps=REAL_STEPS, batch_size=64)
    report = run_pipeline(cfg, corpus, tmp_path / "out", quiet=True)
    out = tmp_path / "out"
    funnel = json.loads((out / "funnel.json").read_text())
    steps = funnel["steps"]
    assert [s["step"] for s in steps] == [
        "read",
        "gopher_repetition",
        "c4_quality",
        "fineweb_quality",
        "exact_dedup",
        "minhash_dedup",
        "test_min_words",
    ]
    assert steps[0]["docs_in"] == 600 and steps[0]["dropped_docs"] == {"malformed": 12}
    for prev, cur in zip(steps, steps[1:]):  # each step sees exactly what the previous one kept
        assert cur["docs_in"] == prev["docs_out"] and cur["tokens_in"] == prev["tokens_out"]
    for s in steps:
        assert s["docs_in"] - s["docs_out"] == sum(s["dropped_docs"].values())
        assert s["tokens_in"] - s["tokens_out"] == sum(s["dropped_tokens"].values())
    c4 = steps[2]
    assert c4["dropped_tokens"]["lines_removed"] > 0 and "lines_removed" not in c4["dropped_docs"]
    # the corpus cycles ~1,900 texts over 588 docs: no exact duplicates, but real filters drop real docs
    assert steps[1]["docs_out"] < steps[1]["docs_in"] or steps[2]["docs_out"] < steps[2]["docs_in"]
    kept = [d for f in sorted((out / "kept").glob("*.jsonl")) for d in lines(f)]
    rejects = [d for f in sorted((out / "rejects").glob("*.jsonl")) for d in lines(f)]
    assert len(kept) == report.docs_out == steps[-1]["docs_out"]
    assert len(kept) + len(rejects) == 600
    by_step = {}
    for r in rejects:
        by_step.setdefault(r["_step"], []).append(r["_reason"])
    for s in steps:
        assert sorted(by_step.get(s["step"], [])) == sorted(
            reason for reason, n in s["dropped_docs"].items() for _ in range(n)
        )
    bad = [r for r in rejects if r["_reason"] == "malformed"]
    assert all(r["_source"].startswith(str(corpus)) and r["_source"].rsplit(":", 1)[1].isdigit() for r in bad)
    assert bad[0]["_source"] == f"{corpus / 'shard-000.jsonl'}:50"
    assert (out / "funnel.png").stat().st_size > 5000 and "| minhash_dedup |" in (
        out / "funnel.md"
    ).read_text()
    assert "exact_dedup" in (out / "config.yaml").read_text()


def test_malformed_lines_and_parquet(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.jsonl").write_text(
        '{"id": "1", "text": "one two three four five six"}\n'
        "not json at all\n"
        "\n"
        "[1, 2]\n"
        '{"id": "4", "body": "no text field"}\n'
        '{"id": "5", "text": "tiny"}\n'
    )
    pq.write_table(
        pa.table({"id": ["p1", "p2"], "text": ["alpha beta gamma delta epsilon", None]}), src / "b.parquet"
    )
    cfg = PipelineConfig(name="m", steps=[{"type": "test_min_words", "min_words": 3}])
    report = run_pipeline(cfg, src, tmp_path / "out", quiet=True)
    rej = lines(tmp_path / "out" / "rejects" / "a.jsonl")
    assert [(r["_reason"], r.get("_source", "").rsplit(":", 1)[-1]) for r in rej] == [
        ("malformed", "2"),
        ("malformed", "4"),
        ("malformed", "5"),
        ("too_short", ""),
    ]
    assert "field 'text' missing" in rej[2]["_error"]
    assert [d["id"] for d in lines(tmp_path / "out" / "kept" / "a.jsonl")] == ["1"]
    prej = lines(tmp_path / "out" / "rejects" / "b.jsonl")
    assert prej[0]["_source"].endswith("b.parquet:2") and prej[0]["_reason"] == "malformed"
    assert report.docs_in == 7 and report.docs_out == 2


def test_config_errors_name_the_field(tmp_path):
    with pytest.raises(ConfigError, match=r"steps\[0\].min_words"):
        PipelineConfig(steps=[{"type": "test_min_words", "min_words": -1}]).validate()
    with pytest.raises(ConfigError, match=r"steps\[1\].type"):
        PipelineConfig(steps=[{"type": "test_min_words"}, {"type": "nope"}]).validate()
    bad = tmp_path / "p.yaml"
    bad.write_text("name: p\nbatch_size: 0\nsteps: []\n")
    with pytest.raises(ConfigError, match="batch_size"):
        run_pipeline(bad, DEMO / "web", tmp_path / "o")


def test_cli_dry_run_and_run(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    dry = subprocess.run(
        [
            sys.executable,
            "-m",
            "infir.cli",
            "curate",
            "demo",
            "--dry-run",
            "decontam_index=/x.npz",
            "batch_size=7",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert dry.returncode == 0, dry.stderr
    assert "batch_size: 7" in dry.stdout and "decontam_index: /x.npz" in dry.stdout
    unknown = subprocess.run(
        [sys.executable, "-m", "infir.cli", "curate", "nosuch", "--dry-run"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert unknown.returncode != 0 and "available" in unknown.stderr
    yaml = tmp_path / "p.yaml"
    yaml.write_text("name: p\nsteps:\n  - {type: test_min_words, min_words: 30}\n")
    corpus = write_corpus(tmp_path / "in", 2, 20)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.curation_runner.helpers",
            "curate",
            str(yaml),
            "--input",
            str(corpus),
            "--output",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr
    assert "shard 2/2" in run.stderr and "docs/s" in run.stderr and "ETA" in run.stderr
    assert json.loads((tmp_path / "o" / "funnel.json").read_text())["docs_in"] == 40


def test_cli_sample_mixture(tmp_path):
    from click.testing import CliRunner

    from infir.curation.cli import app

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "s.jsonl").write_text("".join(f'{{"id": "{i}", "text": "x y z"}}\n' for i in range(10)))
    runner = CliRunner()
    dry = runner.invoke(
        app, ["sample-mixture", "--source", f"a={tmp_path / 'a'}@1", "-o", str(tmp_path / "m"), "--dry-run"]
    )
    assert dry.exit_code == 0, dry.output
    assert "weight: 1.0" in dry.output and "seed: 1234" in dry.output
    res = runner.invoke(
        app,
        [
            "sample-mixture",
            "--source",
            f"a={tmp_path / 'a'}",
            "-o",
            str(tmp_path / "m"),
            "--target-tokens",
            "15",
        ],
    )
    assert res.exit_code == 0, res.output
    assert len((tmp_path / "m" / "a.jsonl").read_text().splitlines()) == 5
    listing = runner.invoke(app, ["list-steps"])
    assert "one_solution_per_problem" in listing.output and "test_min_words" in listing.output


def test_a_shards_done_marker_is_written_after_its_files(tmp_path, monkeypatch):
    """The marker is what a rerun trusts: it must come after the shard's kept and rejects files, or a kill
    between them would leave a half-written shard counted as done."""
    import infir.curation.pipeline as pl

    corpus = write_corpus(tmp_path / "in", 2, 10)
    written: list[str] = []
    real_jsonl, real_text = pl.write_jsonl_atomic, pl.write_text_atomic

    def jsonl(path, docs):
        written.append(f"{path.parent.name}/{path.name}")
        return real_jsonl(path, docs)

    def text(path, data):
        if path.parent.name == "done":
            shard = path.stem
            assert f"kept/{shard}.jsonl" in written and f"rejects/{shard}.jsonl" in written, written
        written.append(f"{path.parent.name}/{path.name}")
        return real_text(path, data)

    monkeypatch.setattr(pl, "write_jsonl_atomic", jsonl)
    monkeypatch.setattr(pl, "write_text_atomic", text)
    cfg = PipelineConfig(name="m", steps=[{"type": "test_min_words", "min_words": 3}])
    run_pipeline(cfg, corpus, tmp_path / "out", quiet=True)
    assert sum(w.startswith("done/") for w in written) == 2


def test_a_rerun_processes_no_shard_that_has_its_marker(tmp_path, monkeypatch):
    """Done-markers are honoured: rerunning a finished pipeline touches no shard (its steps never run),
    and a shard whose marker is deleted is the only one processed again."""
    import infir.curation.executors.local as local

    corpus = write_corpus(tmp_path / "in", 3, 10)
    cfg = PipelineConfig(name="m", steps=[{"type": "test_min_words", "min_words": 3}])
    first = run_pipeline(cfg, corpus, tmp_path / "out", quiet=True)
    real = local.apply_steps
    seen: list[int] = []

    def counting(steps, docs, batch_size):
        seen.append(len(docs))
        return real(steps, docs, batch_size)

    monkeypatch.setattr(local, "apply_steps", counting)
    again = run_pipeline(cfg, corpus, tmp_path / "out", quiet=True)
    assert seen == [] and again.docs_out == first.docs_out
    marker = next((tmp_path / "out" / "_state" / "phase0" / "done").glob("*.json"))
    marker.unlink()
    run_pipeline(cfg, corpus, tmp_path / "out", quiet=True)
    assert len(seen) == 1  # exactly the shard without a marker
