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


def test_demo_report_headings_numbers_and_plots(tmp_path):
    """report.md from a run folder: the funnels sit under the report's headings (no second H1), counts are
    integers with separators, word and BPE token counts are labelled apart, and the loss plot is written."""
    import json

    from infir.demo_steps import write_report
    from infir.evaluation.report import write_results

    run = tmp_path
    for domain in ("web", "code", "math"):
        (run / "curated" / domain).mkdir(parents=True)
        (run / "curated" / domain / "funnel.md").write_text(f"# Funnel: demo_{domain}\n\n| step |\n| --- |\n")
    for i, stage in enumerate(("pretrain", "anneal", "sft")):
        (run / stage).mkdir()
        rows = [{"step": s, "loss": 8.0 - 0.01 * s - i} for s in range(1, 41)]
        (run / stage / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        write_results(
            run / "eval" / stage, "web_nll", "m", {"nll_per_token": 7.0 - i, "tokens": 114548, "docs": 48}
        )
    # the raw-vs-curated anneal pair: same steps, scored on the same valset
    (run / "anneal-raw").mkdir()
    (run / "anneal-raw" / "metrics.jsonl").write_text(
        "".join(json.dumps({"step": s, "loss": 7.5}) + "\n" for s in range(1, 41))
    )
    write_results(
        run / "eval" / "anneal-raw", "web_nll", "m", {"nll_per_token": 6.25, "tokens": 114548, "docs": 48}
    )
    write_results(run / "eval" / "anneal-mmlu", "harness_mmlu", "m", {"acc": 0.2624, "num_fewshot": 3})
    (run / "tokens").mkdir()
    (run / "tokens" / "token_counts.json").write_text(json.dumps({"web": {"tokens": 76709}}))
    (run / "tokenizer").mkdir()
    (run / "tokenizer" / "tokenizer.json").write_text(
        json.dumps({"model": {"vocab": {str(i): i for i in range(4096)}}})
    )
    text = write_report(run).read_text()
    assert [ln for ln in text.splitlines() if ln.startswith("# ")] == ["# infir demo report"]
    assert "#### Funnel: demo_web" in text and "| pretrain | 7.0000 | 114,548 | 48 |" in text
    assert ".0 |" not in text.split("## Evaluation")[1]
    assert "BPE tokens" in text and "whitespace-separated words" in text and "scores\nworst" in text
    assert "| web | 76,709 |" in text
    assert (run / "loss_curves.png").stat().st_size > 10_000
    raw = text.split("## Raw vs curated data")[1]
    assert (
        "| curated | 40 | 6.600 | 6.0000 | 0.262 (3) |" in raw and "| raw | 40 | 7.500 | 6.2500 | - |" in raw
    )
    assert "curated minus raw: -0.2500 NLL/token (curated better)" in raw
