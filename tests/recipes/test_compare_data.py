"""`infir compare-data`: one pretrained checkpoint annealed on raw vs curated data at equal tokens, scored alike.

The paper checks its curation by continued pretraining: the same model, the same number of tokens, raw vs
curated data, compared on held-out text. The run goes through the real CLI, stages and CPU engine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from recipe_inputs import corpus

from infir.config import resolve
from infir.recipes.cpu_engine import train
from infir.recipes.registry import get_recipe

CLI = [sys.executable, "-m", "infir.cli", "compare-data"]


def _shard(folder: Path, texts: list[str]) -> None:
    folder.mkdir(parents=True)
    (folder / "part-0.jsonl").write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n"
                                                 for i, t in enumerate(texts)))  # fmt: skip


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, blend_yaml, tokenizer_dir) -> dict[str, str]:
    root = tmp_path_factory.mktemp("compare")
    pre = root / "pretrain"
    train(resolve(get_recipe("pretrain_tiny"), overrides=[f"data.blend={blend_yaml}", f"checkpoint.dir={pre}",
                  f"data.tokenizer={tokenizer_dir}", "train.train_steps=3", "checkpoint.save_interval=3"]))  # fmt: skip
    clean = corpus(200, seed=5)
    junk = ["$$$ ||| ### " * 20, "0 1 0 1 0 1 " * 30, "CLICK HERE buy now " * 15]
    _shard(root / "curated" / "web", clean)
    _shard(root / "raw" / "web", [t for pair in zip(clean, junk * 70) for t in pair])
    mixture = root / "mixture.yaml"
    mixture.write_text(yaml.safe_dump({"name": "t", "budget_tokens": 20000,
                                       "sources": {"web": {"share": 1.0, "allow_repeat": True}}}))  # fmt: skip
    valset = root / "valid.jsonl"
    valset.write_text("".join(json.dumps({"text": t}) + "\n" for t in corpus(12, seed=9)))
    return {"raw": str(root / "raw"), "curated": str(root / "curated"), "tokenizer": str(tokenizer_dir),
            "init": str(pre), "valset": str(valset), "mixture": str(mixture)}  # fmt: skip


def _args(inputs: dict[str, str], out: Path, *extra: str) -> list[str]:
    return [*CLI, *(f"{k}={v}" for k, v in inputs.items()), f"output={out}", "steps=3", "seq_len=32",
            "workers=1", "mmlu=false", *extra]  # fmt: skip


def test_dry_run_lists_stages_and_what_is_missing(tmp_path, inputs):
    ok = subprocess.run(
        _args(inputs, tmp_path / "run", "--dry-run"), capture_output=True, text=True, timeout=120
    )
    assert ok.returncode == 0, ok.stderr
    for stage in (
        "tokenize-curated-web",
        "mix-raw",
        "anneal-curated",
        "anneal-raw",
        "eval-anneal-raw",
        "report",
    ):
        assert f"# {stage}:" in ok.stdout
    assert "missing:" not in ok.stdout and not (tmp_path / "run").exists()
    gone = {**inputs, "raw": str(tmp_path / "nowhere"), "init": str(tmp_path / "no_ckpt")}
    dry = subprocess.run(
        _args(gone, tmp_path / "run", "--dry-run"), capture_output=True, text=True, timeout=120
    )
    assert dry.returncode == 0
    assert f"missing: init: {tmp_path / 'no_ckpt'} not found" in dry.stdout
    assert f"missing: raw: source 'web': {tmp_path / 'nowhere' / 'web'}: no such file or folder" in dry.stdout
    real = subprocess.run(_args(gone, tmp_path / "run"), capture_output=True, text=True, timeout=120)
    lines = real.stderr.strip().splitlines()
    assert real.returncode == 2 and len(lines) == 1 and "no_ckpt" in lines[0], real.stderr
    assert not (tmp_path / "run").exists()  # refused before any stage ran


@pytest.mark.slow
def test_raw_vs_curated_at_equal_tokens_from_one_checkpoint(tmp_path, inputs):
    out = tmp_path / "run"
    proc = subprocess.run(_args(inputs, out), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    logs = {arm: [json.loads(x) for x in (out / f"anneal-{arm}" / "metrics.jsonl").read_text().splitlines()]
            for arm in ("curated", "raw")}  # fmt: skip
    # equal tokens: same steps, batch and sequence length on both arms
    assert [r["tokens"] for r in logs["curated"]] == [r["tokens"] for r in logs["raw"]]
    assert logs["curated"][-1]["step"] == 3
    # different data: the two anneals saw different batches
    assert logs["curated"][0]["loss"] != logs["raw"][0]["loss"]
    nll = {arm: json.loads((out / "eval" / f"anneal-{arm}" / "web_nll.json").read_text())["metrics"]["nll_per_token"]
           for arm in ("curated", "raw")}  # fmt: skip
    report = (out / "compare.md").read_text()
    assert f"| curated | 3 | {logs['curated'][-1]['loss']:.3f} | {nll['curated']:.4f} | - |" in report
    assert f"| raw | 3 | {logs['raw'][-1]['loss']:.3f} | {nll['raw']:.4f} | - |" in report
    better = "curated" if nll["curated"] < nll["raw"] else "raw"
    assert f"curated minus raw: {nll['curated'] - nll['raw']:+.4f} NLL/token ({better} better)" in report
    # a rerun finds every stage's done marker and runs nothing again
    before = (out / "anneal-raw" / "metrics.jsonl").stat().st_mtime_ns
    again = subprocess.run(_args(inputs, out), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and (again.stdout + again.stderr).count("│ skipped ") == 9, again.stderr[
        -3000:
    ]
    assert (out / "anneal-raw" / "metrics.jsonl").stat().st_mtime_ns == before
