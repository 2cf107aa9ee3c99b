"""Every recipe builds and validates with the paper's numbers; layers apply recipe < YAML < CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from infir.config import ConfigError, resolve
from infir.recipes.cli import app
from infir.recipes.engines import resolve_engine
from infir.recipes.registry import get_recipe, recipes

CONF = Path(__file__).resolve().parents[2] / "conf" / "recipes"
LLM = ["pretrain_900b", "pretrain_900b_scratch", "anneal_40b", "sft", "sft_long_cot"]


@pytest.mark.parametrize("name", LLM + [f"{n}_tiny" for n in ["pretrain", "anneal", "sft", "sft_long_cot"]])
def test_every_recipe_builds_and_validates(name):
    cfg = get_recipe(name)
    assert cfg.name == name
    assert resolve(cfg) == cfg  # survives the strict round trip
    assert resolve_engine(cfg)[0] == (
        "infir.recipes.cpu_engine" if name.endswith("tiny") else "infir.recipes.bridge"
    )


def test_paper_hyperparameters():
    pre, ann, sft = get_recipe("pretrain_900b"), get_recipe("anneal_40b"), get_recipe("sft")
    m = pre.model
    assert (m.num_layers, m.hidden_size, m.ffn_hidden_size, m.num_attention_heads, m.num_query_groups) == (
        16, 2048, 8192, 32, 8)  # fmt: skip
    assert (m.vocab_size, m.tie_embeddings, m.rope_theta, m.rope_scaling) == (
        128256,
        True,
        500000.0,
        "llama3",
    )
    for cfg in (pre, ann):
        assert (cfg.optim.lr, cfg.train.global_batch_size, cfg.train.seq_length) == (1.4e-3, 2048, 4096)
    assert pre.train.train_tokens == 900e9 and pre.train.steps() == 107_288
    assert (
        ann.train.train_tokens == 40e9 and ann.init.kind == "checkpoint" and "pretrain_900b" in ann.init.path
    )
    assert (sft.optim.lr, sft.train.global_batch_size, sft.train.epochs, sft.train.seq_length) == (
        2e-5,
        128,
        4,
        4096,
    )
    assert (sft.schedule.style, sft.schedule.warmup_ratio, sft.sft.mask_prompt, sft.sft.packing) == (
        "cosine",
        0.1,
        True,
        False,
    )  # fmt: skip  (unpacked: the paper's batch 128 counts samples)
    assert pre.parallel.use_distributed_optimizer and pre.parallel.overlap_grad_reduce
    assert pre.parallel.overlap_param_gather and "Megatron-Bridge" in pre.notes


def test_precedence_recipe_yaml_cli(tmp_path):
    layer = tmp_path / "x.yaml"
    layer.write_text(yaml.safe_dump({"optim": {"lr": 1e-3, "min_lr": 1e-5}, "precision": "fp8"}))
    cfg = resolve(get_recipe("pretrain_900b"), [layer], ["optim.lr=5e-4"])
    assert cfg.optim.lr == 5e-4 and cfg.optim.min_lr == 1e-5 and cfg.precision == "fp8"
    assert cfg.train.global_batch_size == 2048  # untouched recipe value


@pytest.mark.parametrize(
    "override, path",
    [
        (["parallel.dp=3"], "train.global_batch_size"),
        (["optim.lr=-1"], "optim.lr"),
        (["optim.betas=1"], "optim.betas"),
        (["schedule.warmup_ratio=0.1"], "schedule.warmup_steps"),
        (["parallel.tp=3"], "parallel.tp"),
        (["precision=fp16"], "precision"),
    ],
)
def test_bad_values_name_the_field(override, path):
    with pytest.raises(ConfigError) as err:
        resolve(get_recipe("pretrain_900b"), overrides=override)
    assert err.value.path == path


def test_tiny_cpu_rules():
    with pytest.raises(ConfigError, match="fp8"):
        resolve(get_recipe("pretrain_tiny"), overrides=["precision=fp8"])


def test_cli_list_and_dry_run(tmp_path):
    runner = CliRunner()
    out = runner.invoke(app, ["--list"])
    assert out.exit_code == 0 and all(n in out.output for n in LLM)
    out = runner.invoke(app, ["all", "--dry-run"])
    assert out.exit_code == 0
    assert all(f"# --- recipe: {n}\n" in out.output for n in recipes())
    out = runner.invoke(
        app, ["sft", "--config", str(CONF / "sft_from_hf.yaml"), "train.epochs=2", "--dry-run"]
    )
    assert out.exit_code == 0, out.output
    cfg = yaml.safe_load(out.output)
    assert cfg["train"]["epochs"] == 2 and cfg["parallel"]["dp"] == 8 and cfg["init"]["kind"] == "hf"
    for f in ["pretrain_fp8.yaml", "pretrain_from_hf.yaml", "tiny_cpu.yaml"]:
        base = "pretrain_tiny" if f == "tiny_cpu.yaml" else "pretrain_900b"
        assert runner.invoke(app, [base, "-c", str(CONF / f), "--dry-run"]).exit_code == 0


def test_sft_batch_counts_samples_and_the_dry_run_says_how_many_steps(tmp_path):
    """The paper's SFT "batch size 128" is 128 samples: unpacked by default (packing would put several
    samples in each of the 128 rows), and the dry run prints samples per step and steps per epoch."""
    import json
    import subprocess
    import sys

    data = tmp_path / "chat.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"q{i}", "response": f"a{i}"}) + "\n" for i in range(300)))
    proc = subprocess.run([sys.executable, "-m", "infir.cli", "train", "sft", "--dry-run", f"data.sft_files=[{data}]"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "# sft: unpacked: 128 chats per step" in proc.stdout
    assert "# sft data: 300 chats -> 3 steps per epoch, 12 steps for 4 epoch(s)" in proc.stdout
