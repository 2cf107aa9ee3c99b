"""`infir demo`: the whole InfiR chain at toy scale, on this machine, in minutes.

curate (web, code, math) -> train a BPE tokenizer -> tokenize to Megatron .bin/.idx -> mix -> pretrain a
tiny Llama -> anneal from it -> SFT with prompt-masked loss -> validation NLL of every checkpoint -> report.
Beside it, the paper's check of curation: the same anneal on the raw corpus at equal tokens, both scored.

Each stage is an ordinary `infir ...` command run by the launcher's local executor, the same chain a
cluster runs through SLURM; a rerun skips the stages that already finished.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import typer

from infir.cli_app import typer_app
from infir.config import dump_yaml, resolve
from infir.launcher.chain import infir_argv as _infir
from infir.paths import CONF_DIR, DATA_DIR

app = typer_app()


@dataclass
class DemoConfig:
    output: str = "runs/demo"
    corpus: str = str(DATA_DIR / "demo")
    #: curation backend: `local` (in-process) or `ray` (NeMo Curator stages on a local Ray)
    executor: Literal["local", "ray"] = "local"
    vocab_size: int = field(default=4096, metadata={"ge": 300})
    pretrain_steps: int = field(default=300, metadata={"ge": 1})
    anneal_steps: int = field(default=60, metadata={"ge": 1})
    #: SFT runs whole epochs over the packed chat data, like the real recipe (4 epochs there)
    sft_epochs: int = field(default=1, metadata={"ge": 1})
    seq_len: int = field(default=256, metadata={"ge": 16})
    workers: int = field(default=2, metadata={"ge": 1})


DOMAINS = ("web", "code", "math")


def _steps(*args: str) -> list[str]:
    return [sys.executable, "-m", "infir.demo_steps", *args]


def build_stages(cfg: DemoConfig) -> list:
    """The demo chain as launcher stages (argv + dependencies)."""
    from infir.compare_data import nll_stage
    from infir.launcher.chain import Stage

    run, corpus = Path(cfg.output).resolve(), Path(cfg.corpus).resolve()
    common = [f"data.tokenizer={run / 'tokenizer'}", f"train.seq_length={cfg.seq_len}"]
    valset = run / "valset" / "kept.jsonl"
    return [
        *data_stages(cfg, run, corpus),
        *train_stages(cfg, run, corpus, common),
        *(nll_stage(ckpt, run, valset, after=[ckpt, "valset"]) for ckpt in ("pretrain", "anneal", "sft")),
        *raw_vs_curated_stages(cfg, run, corpus, common),
        *synth_stages(run, corpus),
        Stage(
            name="report",
            argv=_steps("report", str(run)),
            after=[
                *(f"eval-{c}" for c in ("pretrain", "anneal", "sft", "anneal-raw")),
                "mmlu-anneal",
                "mmlu-anneal-raw",
                "synth",
            ],  # fmt: skip
        ),
    ]


def synth_stages(run: Path, corpus: Path) -> list:
    """Synthetic SFT data at toy scale (conf/synth/demo.yaml): the SFT checkpoint answers the seed prompts,
    a toy reward model keeps the better of two answers; the funnel and the reward plot go in the report."""
    from infir.launcher.chain import Stage

    reward, sft = run / "synth" / "reward", run / "sft" / "export"
    return [
        Stage(name="synth-reward", after=["sft"], outputs=[str(reward)],
              argv=_steps("toy-reward", "--base", str(sft), "--output", str(reward))),
        Stage(name="synth", after=["synth-reward", "decontam-index"], outputs=[str(run / "synth" / "out")],
              argv=_infir("synth", "demo", "--quiet", "--input", str(corpus / "synth"), "--output",
                          str(run / "synth" / "out"), f"engines.toy.model={sft}", f"engines.reward.model={reward}",
                          f"decontam_index={run / 'decontam' / 'benchmarks.idx'}")),
    ]  # fmt: skip


def data_stages(cfg: DemoConfig, run: Path, corpus: Path) -> list:
    """Decontamination index -> curate each domain -> BPE tokenizer -> Megatron .bin/.idx -> blend."""
    from infir.launcher.chain import Stage

    index = run / "decontam" / "benchmarks.idx"
    curated = [str(run / "curated" / d / "kept") for d in DOMAINS]
    return [
        Stage(name="decontam-index", outputs=[str(index)],
              argv=_infir("curate", "build-decontam-index", "--humaneval", "--out", str(index))),
        *(Stage(name=f"curate-{d}", after=["decontam-index"], outputs=[str(run / "curated" / d)],
                argv=_infir("curate", f"demo_{d}", "--input", str(corpus / d), "--output", str(run / "curated" / d),
                            "--executor", cfg.executor, f"decontam_index={index}"))
          for d in DOMAINS),
        Stage(name="tokenizer", after=[f"curate-{d}" for d in DOMAINS], outputs=[str(run / "tokenizer")],
              argv=_steps("train-tokenizer", "--out", str(run / "tokenizer"), "--vocab-size", str(cfg.vocab_size),
                          *curated)),
        # --overwrite: a tokenize stage runs only when it must (done markers), and then redoes its source
        *(Stage(name=f"tokenize-{d}", after=["tokenizer"],
                argv=_infir("tokenize", "--input", kept, "--output", str(run / "tokens"), "--tokenizer",
                            str(run / "tokenizer"), "--source", d, "--workers", str(cfg.workers), "--overwrite"))
          for d, kept in zip(DOMAINS, curated)),
        Stage(name="mix", after=[f"tokenize-{d}" for d in DOMAINS],
              argv=_infir("mix", str(CONF_DIR / "mixtures" / "demo.yaml"), "--counts",
                          str(run / "tokens" / "token_counts.json"), "--output", str(run / "blend.yaml"))),
    ]  # fmt: skip


def train_stages(cfg: DemoConfig, run: Path, corpus: Path, common: list[str]) -> list:
    """Pretrain -> anneal (from the pretrain's weights and Adam state; the LR decays) -> SFT, and the
    validation set the pretrained model cleans."""
    from infir.launcher.chain import Stage

    blend = f"data.blend={run / 'blend.yaml'}"
    return [
        Stage(name="pretrain", after=["mix"], outputs=[str(run / "pretrain")],
              argv=_infir("train", "pretrain_tiny", *common, blend, f"checkpoint.dir={run / 'pretrain'}",
                          f"train.train_steps={cfg.pretrain_steps}")),
        Stage(name="anneal", after=["pretrain"], outputs=[str(run / "anneal")],
              argv=_infir("train", "anneal_tiny", *common, blend, "init.kind=checkpoint",
                          f"init.path={run / 'pretrain'}", f"checkpoint.dir={run / 'anneal'}",
                          f"train.train_steps={cfg.anneal_steps}")),
        Stage(name="sft", after=["anneal"], outputs=[str(run / "sft")],
              argv=_infir("train", "sft_tiny", *common, f"data.sft_files=[{corpus / 'sft' / 'sft.jsonl'}]",
                          "init.kind=hf", f"init.path={run / 'anneal' / 'export'}", f"checkpoint.dir={run / 'sft'}",
                          f"train.epochs={cfg.sft_epochs}")),
        Stage(name="valset", after=["pretrain"], outputs=[str(run / "valset")],
              argv=_infir("eval", "build-valset", str(corpus / "valid"), "--model", str(run / "pretrain" / "export"),
                          "--out", str(run / "valset" / "kept.jsonl"))),
    ]  # fmt: skip


def raw_vs_curated_stages(cfg: DemoConfig, run: Path, corpus: Path, common: list[str]) -> list:
    """The paper's check of its curation by continued pretraining (infir/compare_data.py): the anneal again
    from the same pretrained checkpoint, for the same steps (so the same number of tokens), on the raw corpus
    (only malformed records removed) tokenized and mixed like the curated one; both scored alike."""
    from infir.compare_data import arm_stages, mmlu_stage
    from infir.launcher.chain import Stage

    raw = run / "raw" / "curated"
    curate = Stage(
        name="curate-raw",
        argv=_infir(
            "curate",
            "demo_raw",
            "--quiet",
            *[a for d in DOMAINS for a in ("--input", f"{d}={corpus / d}")],
            "--output",
            str(raw),
        ),  # fmt: skip
        outputs=[str(raw)],
    )
    arm = arm_stages("raw", raw / "kept", run, tokenizer=run / "tokenizer", init=run / "pretrain",
                     mixture=CONF_DIR / "mixtures" / "demo.yaml", valset=run / "valset" / "kept.jsonl",
                     train_args=["anneal_tiny", *common], steps=cfg.anneal_steps, workers=cfg.workers,
                     after=["curate-raw", "tokenizer", "pretrain", "valset"])  # fmt: skip
    return [curate, *arm, mmlu_stage("anneal", run)]


@app.command(help=__doc__)
def demo(
    overrides: list[str] = typer.Argument(
        None, help="a.b=c overrides of DemoConfig, e.g. pretrain_steps=100"
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="print the resolved config and the stages, then exit"
    ),
    fresh: bool = typer.Option(False, "--fresh", help="delete the output folder first instead of resuming"),
) -> None:
    """Run the whole chain at toy scale (CPU, no network, < 10 minutes on 2 cores)."""
    cfg = resolve(DemoConfig(), overrides=overrides or [])
    if dry_run:
        typer.echo(dump_yaml(cfg))
        for stage in build_stages(cfg):
            typer.echo(f"# {stage.name}: {' '.join(stage.argv[2:])}")
        raise typer.Exit(0)
    import shutil

    from infir.launcher.local import LocalRunner

    run = Path(cfg.output)
    if fresh and run.exists():
        shutil.rmtree(run)
    run.mkdir(parents=True, exist_ok=True)
    (run / "demo_config.yaml").write_text(dump_yaml(cfg))
    results = LocalRunner(run / "_stages").run(build_stages(cfg))
    if any(r.status == "failed" for r in results):
        raise typer.Exit(1)
    typer.echo(f"\nreport: {run / 'report.md'}")
