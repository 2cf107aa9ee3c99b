"""LocalExecutor: the tiny chain runs in order, hands outputs on, skips finished stages, stops on failure."""

import sys
from pathlib import Path

from infir.launcher.chain import Stage, load_pipeline
from infir.launcher.local import LocalExecutor

ROOT = Path(__file__).resolve().parents[2]


def test_tiny_chain_runs_and_skips(tmp_path):
    chain = load_pipeline(ROOT / "conf/pipelines/tiny.yaml", tmp_path)
    results = LocalExecutor(tmp_path, stream=False).run(chain)
    assert [(r.name, r.status) for r in results] == [(n, "done") for n in chain.names()]
    assert (tmp_path / "sft/out.txt").read_text().split() == [
        "curated",
        "tokenized",
        "pretrained",
        "annealed",
        "sft",
    ]
    assert all((tmp_path / n / "DONE").is_file() for n in chain.names())
    # second run: every stage is finished, nothing runs again
    (tmp_path / "sft/out.txt").write_text("untouched\n")
    again = LocalExecutor(tmp_path, stream=False).run(chain)
    assert {r.status for r in again} == {"skipped"}
    assert (tmp_path / "sft/out.txt").read_text() == "untouched\n"


def test_failure_stops_the_chain(tmp_path):
    stages = [
        Stage("a", [sys.executable, "-c", "print('hello from a')"]),
        Stage("b", [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"], after=["a"]),
        Stage("c", [sys.executable, "-c", "open('c_ran', 'w')"], after=["b"]),
        Stage("d", ["/nonexistent/command"]),
    ]
    results = LocalExecutor(tmp_path, stream=False).run(stages)
    assert [r.status for r in results] == ["done", "failed", "not run", "not run"]
    assert results[1].returncode == 3 and "boom" in (tmp_path / "b/b.log").read_text()
    assert "hello from a" in (tmp_path / "a/a.log").read_text()
    assert not (tmp_path / "b/DONE").exists() and not (tmp_path / "c_ran").exists()
    # fix b and rerun: a is skipped, b and c run
    stages[1] = Stage("b", [sys.executable, "-c", "print('fixed')"], after=["a"])
    results = LocalExecutor(tmp_path, stream=False).run(stages[:3])
    assert [r.status for r in results] == ["skipped", "done", "done"]


def test_command_not_found_is_a_failed_stage(tmp_path):
    results = LocalExecutor(tmp_path, stream=False).run([Stage("x", ["/nonexistent/cmd"])])
    assert results[0].status == "failed" and "cannot start" in results[0].log.read_text()
