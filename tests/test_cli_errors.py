"""The CLI's user-error contract on the real `infir` entry point: a dry run resolves without run-time
inputs and names them; a failed sbatch is one line naming the stage and SLURM's own message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def infir(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infir.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})  # fmt: skip


def test_dry_runs_resolve_without_inputs_and_name_what_is_missing():
    cases = {
        ("curate", "web", "--dry-run"): ["recall_model=PATH", "quality_model=PATH", "decontam_index=PATH",
                                         "--input DIR --output DIR"],
        ("curate", "demo_web", "--dry-run", "decontam_index=/x.npz"): ["--input DIR --output DIR"],
        ("tokenize", "--dry-run"): ["--input", "--output", "--tokenizer"],
        ("vlm", "clean", "--dry-run"): ["input", "output", "embedder"],
    }  # fmt: skip
    for args, missing in cases.items():
        proc = infir(*args)
        assert proc.returncode == 0, (args, proc.stderr[-1500:])
        named = [ln.removeprefix("# missing at run time: ").split(" (")[0] for ln in proc.stdout.splitlines()
                 if ln.startswith("# missing at run time: ")]  # fmt: skip
        assert named == missing, (args, named)
    # without --dry-run the same gaps are one config error each
    assert infir("tokenize").returncode == 2 and "required: --input" in infir("tokenize").stderr


def test_a_failed_sbatch_is_one_line(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "sbatch").write_text(
        "#!/bin/sh\necho 'sbatch: error: Batch job submission failed: Invalid account' >&2\nexit 1\n"
    )
    (fake / "sbatch").chmod(0o755)
    env = {"PATH": f"{fake}:{os.environ['PATH']}"}
    proc = infir("launch", "decontam", "--pipeline", "tiny", "--run-dir", str(tmp_path / "runs"), env=env)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert len(lines) == 1 and "Invalid account" in lines[0] and "decontam" in lines[0], lines
    traced = infir("--debug", "launch", "decontam", "--pipeline", "tiny", "--run-dir", str(tmp_path / "r2"),
                   env=env)  # fmt: skip
    assert traced.returncode != 0 and "Traceback" in traced.stderr


def test_curation_errors_name_the_layer_that_set_the_value(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nsteps:\n  - {type: gopher_repetition, dup_line_frac: abc}\n")
    from_file = infir("curate", str(bad), "--dry-run")
    assert (
        from_file.returncode == 2
        and f"steps[0].dup_line_frac: expected a number, got 'abc' (set in {bad})" in from_file.stderr
    )
    fixed = infir("curate", str(bad), "--dry-run", "steps.0.dup_line_frac=0.3")  # the command line wins
    assert fixed.returncode == 0 and "dup_line_frac: 0.3" in fixed.stdout, fixed.stderr
    cli = infir("curate", str(bad), "--dry-run", "steps.0.dup_line_frac=-x")
    assert cli.returncode == 2 and "(set in a command-line override)" in cli.stderr


def test_overrides_reach_list_items_and_typos_get_a_suggestion():
    ok = infir("curate", "demo_web", "--dry-run", "steps.0.dup_line_frac=0.5", "decontam_index=/x.npz")
    assert ok.returncode == 0 and "- {type: gopher_repetition, dup_line_frac: 0.5}" in ok.stdout, ok.stderr
    typo = infir("curate", "demo_web", "--dry-run", "steps.0.dup_line_fracc=0.5", "decontam_index=/x.npz")
    assert typo.returncode == 2 and "steps[0].dup_line_fracc" in typo.stderr
    assert "(set in a command-line override)" in typo.stderr  # the layer that set it, as recipes say
    far = infir("curate", "demo_web", "--dry-run", "steps.40.dup_line_frac=0.5")
    assert far.returncode == 2 and "steps.40: index out of range" in far.stderr
    recipe = infir("train", "pretrain_900", "--dry-run")
    assert recipe.returncode == 2 and "did you mean 'pretrain_900b'?" in recipe.stderr
    by_name = infir(
        "launch", "pretrain_900b", "--cluster", "h100_8x8", "--run-dir", "/runs/infir", "--dry-run"
    )
    assert by_name.returncode == 0 and "# name: h100_8x8" in by_name.stdout and "--nodes=8" in by_name.stdout
    wrong = infir("launch", "pretrain_900b", "--cluster", "h100_8x9", "--dry-run")
    assert wrong.returncode == 2 and "did you mean 'h100_8x8'?" in wrong.stderr


def test_every_recipe_listed_with_a_description():
    proc = infir("train", "--list")
    assert proc.returncode == 0
    rows = [ln.split(None, 1) for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(rows) >= 14 and all(len(r) == 2 and len(r[1]) > 20 for r in rows), rows
