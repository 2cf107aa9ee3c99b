"""`infir demo` (the README's main command): its config, and every stage it runs, resolve through the real CLIs.

The full run (a few minutes) is what `infir demo` itself does; here each stage's argv is dry-run in-process,
so a renamed option, recipe or override key in infir/demo.py fails in the suite, not on a user's laptop.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from infir.cli import main
from infir.demo import DemoConfig, app, build_stages


def test_demo_dry_run_prints_config_and_every_stage(tmp_path):
    res = CliRunner().invoke(app, ["--dry-run", f"output={tmp_path}", "pretrain_steps=7"])
    assert res.exit_code == 0, res.output
    assert "pretrain_steps: 7" in res.output
    names = [s.name for s in build_stages(DemoConfig(output=str(tmp_path)))]
    for name in names:
        assert f"# {name}:" in res.output
    assert not any(tmp_path.iterdir())  # a dry run writes nothing
    bad = CliRunner().invoke(app, ["--dry-run", "pretrain_step=7"])
    assert bad.exit_code != 0 and "pretrain_step" in str(bad.exception or bad.output)


_STAGES = build_stages(DemoConfig(output="/nonexistent/demo"))


@pytest.mark.parametrize(
    "stage", [s for s in _STAGES if s.argv[1:3] == ["-m", "infir.cli"]], ids=lambda s: s.name
)
def test_demo_stage_dry_runs(stage):
    # stage.argv = [python, -m, infir.cli, <subcommand...>]; inputs do not exist yet, as on a fresh run
    try:
        main([*stage.argv[3:], "--dry-run"])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    assert code == 0, f"{stage.name}: {' '.join(stage.argv[3:])} --dry-run exited {code}"
