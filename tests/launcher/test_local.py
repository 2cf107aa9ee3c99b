"""LocalRunner: a hand-over chain runs in order, hands outputs on, skips finished stages, stops on failure."""

import sys
from pathlib import Path

from infir.launcher.chain import Chain, Stage
from infir.launcher.local import LocalRunner


def _handover_chain(run: Path) -> list[Stage]:
    """Each stage appends its name to the previous stage's file, so order and hand-over are checkable."""
    names = ["curate", "tokenize", "pretrain", "anneal", "sft"]
    code = "import pathlib, sys; r = pathlib.Path(sys.argv[1]); prev, me = sys.argv[2], sys.argv[3]; "
    code += "text = (r / prev / 'out.txt').read_text() if prev else ''; "
    code += "(r / me).mkdir(exist_ok=True); (r / me / 'out.txt').write_text(text + me + chr(10))"
    return [
        Stage(n, [sys.executable, "-c", code, str(run), names[i - 1] if i else "", n], after=names[i - 1 : i])
        for i, n in enumerate(names)
    ]


def test_chain_runs_in_order_and_skips(tmp_path):
    chain = Chain(_handover_chain(tmp_path))
    results = LocalRunner(tmp_path, stream=False).run(chain)
    assert [(r.name, r.status) for r in results] == [(n, "done") for n in chain.names()]
    assert (tmp_path / "sft/out.txt").read_text().split() == chain.names()
    assert all((tmp_path / n / "DONE").is_file() for n in chain.names())
    # second run: every stage is finished, nothing runs again
    (tmp_path / "sft/out.txt").write_text("untouched\n")
    again = LocalRunner(tmp_path, stream=False).run(chain)
    assert {r.status for r in again} == {"skipped"}
    assert (tmp_path / "sft/out.txt").read_text() == "untouched\n"


def test_failure_stops_the_chain(tmp_path):
    stages = [
        Stage("a", [sys.executable, "-c", "print('hello from a')"]),
        Stage("b", [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"], after=["a"]),
        # an absolute path under tmp_path: the stage's working directory is not what this test checks
        Stage("c", [sys.executable, "-c", f"open({str(tmp_path / 'c_ran')!r}, 'w')"], after=["b"]),
        Stage("d", ["/nonexistent/command"]),
    ]
    results = LocalRunner(tmp_path, stream=False).run(stages)
    assert [r.status for r in results] == ["done", "failed", "not run", "not run"]
    assert results[1].returncode == 3 and "boom" in (tmp_path / "b/b.log").read_text()
    assert "hello from a" in (tmp_path / "a/a.log").read_text()
    assert not (tmp_path / "b/DONE").exists() and not (tmp_path / "c_ran").exists()
    # fix b and rerun: a is skipped, b and c run
    stages[1] = Stage("b", [sys.executable, "-c", "print('fixed')"], after=["a"])
    results = LocalRunner(tmp_path, stream=False).run(stages[:3])
    assert [r.status for r in results] == ["skipped", "done", "done"]
    assert (tmp_path / "c_ran").exists()  # c ran, and wrote where this test looks (not the repo's cwd)


def test_command_not_found_is_a_failed_stage(tmp_path):
    results = LocalRunner(tmp_path, stream=False).run([Stage("x", ["/nonexistent/cmd"])])
    assert results[0].status == "failed" and "cannot start" in results[0].log.read_text()


def test_a_changed_stage_reruns_and_so_do_the_stages_after_it(tmp_path):
    """A done marker remembers its stage's command: change one stage's command (a new setting) and that
    stage runs again, with every stage after it, while the ones before stay skipped."""
    chain = _handover_chain(tmp_path)
    LocalRunner(tmp_path, stream=False).run(Chain(chain))
    changed = list(chain)
    pre = changed[2]
    changed[2] = Stage(pre.name, [*pre.argv[:-1], pre.argv[-1]], after=pre.after)  # same command: skipped
    again = LocalRunner(tmp_path, stream=False).run(Chain(changed))
    assert {r.status for r in again} == {"skipped"}
    (tmp_path / "pretrain" / "stale.txt").write_text("from the old run\n")
    changed[2] = Stage(pre.name, [*pre.argv, "pretrain_steps=10"], after=pre.after,
                       outputs=[str(tmp_path / "pretrain")])  # a new setting  # fmt: skip
    again = LocalRunner(tmp_path, stream=False).run(Chain(changed))
    assert [r.status for r in again] == ["skipped", "skipped", "done", "done", "done"]
    # its declared outputs were cleared first: the rerun started clean, not from the old run's files
    assert (
        not (tmp_path / "pretrain" / "stale.txt").exists() and (tmp_path / "pretrain" / "out.txt").is_file()
    )
    assert "command=" in (tmp_path / "pretrain" / "DONE").read_text()
    third = LocalRunner(tmp_path, stream=False).run(Chain(changed))
    assert {r.status for r in third} == {"skipped"}  # and then it is done again
