"""The CPU engine on real megatron-core data: loss falls, kill+resume is bitwise exact, export loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from infir.config import ConfigError, resolve
from infir.recipes.cpu_engine import train
from infir.recipes.registry import get_recipe


def tiny_pretrain(tmp: Path, blend: Path, tok: Path, *extra: str):
    return resolve(
        get_recipe("pretrain_tiny"),
        overrides=[f"data.blend={blend}", f"data.tokenizer={tok}", f"checkpoint.dir={tmp}", *extra],
    )


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, blend_yaml, tokenizer_dir):
    run = tmp_path_factory.mktemp("pre") / "run"
    cfg = tiny_pretrain(run, blend_yaml, tokenizer_dir, "train.train_steps=12", "checkpoint.save_interval=4")
    return cfg, train(cfg)


def test_loss_falls_and_metrics_written(pretrained):
    cfg, result = pretrained
    assert result.steps == 12 and len(result.losses) == 12
    assert sum(result.losses[-3:]) / 3 < 0.85 * sum(result.losses[:3]) / 3
    rows = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 13))
    assert rows[-1]["tokens"] == 12 * cfg.train.global_batch_size * cfg.train.seq_length
    # warmup (2 steps), then the paper's constant 1.4e-3 "throughout" pretraining (the decay is the anneal's)
    lrs = [r["lr"] for r in rows]
    assert lrs[0] < lrs[1] == cfg.optim.lr and set(lrs[1:]) == {cfg.optim.lr}


def test_export_loads_in_transformers(pretrained):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _, result = pretrained
    model = AutoModelForCausalLM.from_pretrained(str(result.export_dir))
    tok = AutoTokenizer.from_pretrained(str(result.export_dir))
    ids = tok("the cat sat on", return_tensors="pt")["input_ids"]
    out = model.generate(ids, max_new_tokens=4, do_sample=False)
    assert out.shape[1] == ids.shape[1] + 4
    assert model.config.num_hidden_layers == 2 and model.config.tie_word_embeddings
    assert model.config.rope_parameters["rope_type"] == "llama3"


def test_kill_and_resume_is_bitwise_exact(tmp_path, blend_yaml, tokenizer_dir, pretrained):
    _, full = pretrained
    cfg = tiny_pretrain(
        tmp_path / "run", blend_yaml, tokenizer_dir, "train.train_steps=12", "checkpoint.save_interval=4"
    )
    killed = train(cfg, stop_after_step=6)  # dies after step 6; last checkpoint is step 4
    assert not (tmp_path / "run" / "export").exists()
    resumed = train(cfg)
    assert resumed.resumed_from == 4
    assert killed.losses[:4] + resumed.losses == full.losses  # bitwise: plain float equality
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 13))
    consumed = [i for r in rows for i in range(*r["samples"])]
    assert consumed == list(range(12 * cfg.train.global_batch_size))  # none repeated, none skipped
    w1 = load_file(str(full.export_dir / "model.safetensors"))
    w2 = load_file(str(resumed.export_dir / "model.safetensors"))
    assert all(torch.equal(w1[k], w2[k]) for k in w1)


def test_anneal_starts_from_pretrain_weights(tmp_path, blend_yaml, tokenizer_dir, pretrained):
    _, pre = pretrained
    cfg = resolve(
        get_recipe("anneal_tiny"),
        overrides=[f"data.blend={blend_yaml}", f"data.tokenizer={tokenizer_dir}", f"checkpoint.dir={tmp_path}",
                   f"init.path={pre.run_dir}", "train.train_steps=3"],
    )  # fmt: skip
    assert cfg.stage == "anneal" and cfg.init.kind == "checkpoint"
    result = train(cfg)
    # starts where pretraining ended, far below a fresh model's loss (~log(vocab) = 6)
    assert result.losses[0] < pre.losses[0] * 0.85
    assert (result.export_dir / "model.safetensors").is_file()


def test_infir_train_cli_runs_the_cpu_engine(tmp_path, blend_yaml, tokenizer_dir):
    from typer.testing import CliRunner

    from infir.recipes.cli import app

    args = ["pretrain_tiny", f"data.blend={blend_yaml}", f"data.tokenizer={tokenizer_dir}",
            f"checkpoint.dir={tmp_path}", "train.train_steps=2"]  # fmt: skip
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    assert "step 2/2" in out.output and (tmp_path / "export" / "config.json").is_file()


def test_resume_refuses_another_run_and_skips_a_corrupt_checkpoint(
    tmp_path, blend_yaml, tokenizer_dir, pretrained
):
    """A checkpoint of a different run (here: train_steps changed, so another sample order) is refused with
    one error naming the change; an unreadable newest checkpoint falls back to the one before, and the
    losses still equal an uninterrupted run's."""
    from infir.config import ConfigError

    _, full = pretrained
    args = (
        tmp_path / "run",
        blend_yaml,
        tokenizer_dir,
        "checkpoint.save_interval=4",
        "checkpoint.keep_last=3",
    )
    train(tiny_pretrain(*args, "train.train_steps=12"), stop_after_step=9)  # checkpoints at 4 and 8
    with pytest.raises(ConfigError) as err:
        train(tiny_pretrain(*args, "train.train_steps=20"))
    assert (
        err.value.path == "checkpoint.dir"
        and "num_samples" in str(err.value)
        and "step_0000008" in str(err.value)
    )
    (tmp_path / "run" / "checkpoints" / "step_0000008" / "trainer_state.pt").write_bytes(b"\x80\x04truncated")
    resumed = train(tiny_pretrain(*args, "train.train_steps=12"))
    assert resumed.resumed_from == 4 and resumed.losses == full.losses[4:]
    assert (resumed.export_dir / "model.safetensors").is_file()
    assert not resumed.export_dir.with_name("export.tmp").exists()  # the export was staged and renamed


def test_a_run_that_fails_on_its_inputs_leaves_no_folder(tmp_path, tokenizer_dir):
    import subprocess
    import sys

    run = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "infir.cli", "train", "pretrain_tiny", f"data.blend={tmp_path / 'missing.yaml'}",
         f"data.tokenizer={tokenizer_dir}", f"checkpoint.dir={run}"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "missing.yaml" in proc.stderr and not run.exists()


def test_bad_training_inputs_are_one_line_through_the_cli(tmp_path, blend_yaml, tokenizer_dir, capsys):
    """A blend naming a missing prefix, a truncated .idx or .bin, a tokenizer path that is no folder, an
    assistant-first chat record, a missing curation input: one line each, exit 2; --debug shows the trace."""
    import shutil
    import subprocess
    import sys

    import yaml

    prefix = yaml.safe_load(blend_yaml.read_text())["blend"][0][1]
    broken = tmp_path / "broken_text_document"
    shutil.copy(prefix + ".bin", str(broken) + ".bin")
    idx = Path(prefix + ".idx").read_bytes()
    (tmp_path / "truncated.idx").write_bytes(idx[: len(idx) // 2])

    def blend_with(p: Path) -> Path:
        out = tmp_path / f"blend_{p.name}.yaml"
        out.write_text(yaml.safe_dump({"blend": [[1.0, str(p)]]}))
        return out

    shutil.copy(tmp_path / "truncated.idx", str(broken) + ".idx")
    short_bin = tmp_path / "short_text_document"
    shutil.copy(prefix + ".idx", str(short_bin) + ".idx")
    (tmp_path / "short_text_document.bin").write_bytes(Path(prefix + ".bin").read_bytes()[:-2])
    chat = tmp_path / "chat.jsonl"
    chat.write_text(
        '{"messages": [{"role": "assistant", "content": "hi"}, {"role": "user", "content": "q"}]}\n'
    )
    train_ = [sys.executable, "-m", "infir.cli", "train"]
    cases = {
        "missing prefix": ([*train_, "pretrain_tiny", f"data.blend={blend_with(tmp_path / 'nope')}",
                            f"data.tokenizer={tokenizer_dir}"], "nope.idx not found"),
        "truncated idx": ([*train_, "pretrain_tiny", f"data.blend={blend_with(broken)}",
                           f"data.tokenizer={tokenizer_dir}"], "truncated"),
        "short bin": ([*train_, "pretrain_tiny", f"data.blend={blend_with(short_bin)}",
                       f"data.tokenizer={tokenizer_dir}"], "where its index says"),
        "tokenizer": ([*train_, "pretrain_tiny", f"data.blend={blend_yaml}", f"data.tokenizer={tmp_path / 'x'}"],
                      "not a local tokenizer folder"),
        "assistant first": ([*train_, "sft_tiny", f"data.sft_files=[{chat}]", f"data.tokenizer={tokenizer_dir}"],
                            "chat.jsonl:1:messages"),
        "no input": ([sys.executable, "-m", "infir.cli", "curate", "demo_web", "--input", str(tmp_path / "in"),
                      "--output", str(tmp_path / "o"), "decontam_index=/x.npz"], "does not exist"),
    }  # fmt: skip
    from infir.cli import main

    for i, (name, (cmd, message)) in enumerate(cases.items()):
        cmd = [*cmd, f"checkpoint.dir={tmp_path / name}"] if "train" in cmd else cmd
        if i == 0:  # one case in a fresh process: no import-time warning may add a line
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            code, err = proc.returncode, proc.stderr
        else:  # the others in-process (the same entry point; ~4 s of imports saved per case)
            capsys.readouterr()
            with pytest.raises(SystemExit) as exit_:
                main(cmd[3:])
            code, err = exit_.value.code, capsys.readouterr().err
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and message in lines[0], (name, err[-2000:])
    debug = subprocess.run([*cases["no input"][0], "--debug"], capture_output=True, text=True, timeout=300)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


@pytest.mark.parametrize("style", ["cosine", "linear"])
def test_lr_schedule_warmup_and_min_lr_floor_exactly(style, tmp_path, blend_yaml, tokenizer_dir):
    """Warmup: step 0 gets lr/warmup and step warmup-1 the full lr (no off-by-one); decay ends exactly at
    min_lr (the floor, not 0) and never goes below it."""
    from infir.recipes.cpu_engine import lr_factor

    cfg = tiny_pretrain(tmp_path, blend_yaml, tokenizer_dir, f"schedule.style={style}", "schedule.warmup_steps=4",
                        "optim.lr=1e-3", "optim.min_lr=1e-4")  # fmt: skip
    f = lr_factor(cfg, 20)
    assert f(0) == pytest.approx(1 / 4) and f(1) == pytest.approx(2 / 4) and f(3) == pytest.approx(1.0)
    assert f(4) == pytest.approx(1.0)  # decay starts from the peak
    assert f(20) == pytest.approx(0.1) and min(f(k) for k in range(0, 40)) == pytest.approx(0.1)
    assert all(f(k) >= f(k + 1) for k in range(4, 25))  # monotone after warmup


@pytest.mark.parametrize("shape", ["linear", "cosine", "1-sqrt"])
def test_wsd_is_stable_then_decays_to_min_lr(shape, tmp_path, blend_yaml, tokenizer_dir):
    """Warmup-stable-decay: the peak held until the last `decay_steps`, then `shape` down to min_lr exactly."""
    import math

    from infir.recipes.cpu_engine import lr_factor

    cfg = tiny_pretrain(tmp_path, blend_yaml, tokenizer_dir, "schedule.style=wsd", "schedule.warmup_steps=2",
                        "schedule.decay_steps=8", f"schedule.decay_style={shape}", "optim.lr=1e-3",
                        "optim.min_lr=1e-4")  # fmt: skip
    f = lr_factor(cfg, 20)
    assert [f(k) for k in range(2, 12)] == [1.0] * 10  # stable until step 12 = 20 - 8
    assert f(20) == pytest.approx(0.1) and all(f(k) > f(k + 1) for k in range(12, 20))
    half = {"linear": 0.5, "cosine": 0.5, "1-sqrt": 1 - math.sqrt(0.5)}[shape]
    assert f(16) == pytest.approx(0.1 + 0.9 * half)
    with pytest.raises(ConfigError, match="decay_steps"):
        tiny_pretrain(
            tmp_path, blend_yaml, tokenizer_dir, "schedule.decay_steps=8"
        )  # cosine has no such phase


def test_anneal_continues_the_pretrain_adam_state_and_decays_without_warmup(tmp_path, pretrained):
    """The paper: LR 1.4e-3 "throughout the training process", and in annealing "the model rapidly converges
    due to the decay of the learning rate": anneal_tiny starts from pretrain's last checkpoint with its Adam
    moments (step counts continue), no warmup (first step at the peak), linear decay to min_lr at its end."""
    import torch

    cfg_pre, pre = pretrained
    cfg = resolve(get_recipe("anneal_tiny"), overrides=[f"data.blend={cfg_pre.data.blend}", f"data.tokenizer={cfg_pre.data.tokenizer}",
                  f"init.path={pre.run_dir}", f"checkpoint.dir={tmp_path / 'anneal'}", "train.train_steps=4"])  # fmt: skip
    assert cfg.init.kind == "checkpoint" and cfg.schedule.style == "wsd" and cfg.schedule.warmup_steps == 0
    res = train(cfg)
    lrs = [json.loads(x)["lr"] for x in (res.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert lrs[0] == cfg.optim.lr and lrs == sorted(lrs, reverse=True) and len(set(lrs)) == 4
    state = torch.load(res.run_dir / "checkpoints" / "step_0000004" / "trainer_state.pt", weights_only=False)
    pre_state = torch.load(
        pre.run_dir / "checkpoints" / "step_0000012" / "trainer_state.pt", weights_only=False
    )
    steps = {int(v["step"]) for v in state["optimizer"]["state"].values()}
    assert {int(v["step"]) for v in pre_state["optimizer"]["state"].values()} == {12} and steps == {16}
    assert state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(cfg.optim.min_lr)
    assert state["step"] == 4  # its own step count: the LR schedule is the anneal's


def test_dry_run_shows_and_plots_the_wsd_schedule_across_pretrain_and_anneal(tmp_path):
    """`infir train anneal_40b --dry-run --plot`: no warmup, decay from the peak to min_lr, and the plot
    draws pretrain_900b (constant after its warmup) followed by the anneal's decay."""
    import subprocess
    import sys

    png = tmp_path / "lr.png"
    proc = subprocess.run([sys.executable, "-m", "infir.cli", "train", "anneal_40b", "--dry-run", "--plot", str(png)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("# steps:"))
    assert "warmup 0;" in line and "LR 0.0014 at step 1" in line and "0.00014 at the last step (wsd)" in line
    assert png.stat().st_size > 10_000
    from infir.recipes import schedule_view

    anneal = get_recipe("anneal_40b")
    assert schedule_view.previous_stage(anneal).name == "pretrain_900b"
    pre = schedule_view.lr_curve(get_recipe("pretrain_900b"))
    assert pre[2000:] == [1.4e-3] * (len(pre) - 2000)  # constant after warmup: no decay in pretraining
