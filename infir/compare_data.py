"""`infir compare-data`: the paper's check of curation by continued pretraining, on your own data.

The same model (a pretrained checkpoint) is annealed twice for the same steps, batch and sequence length,
so on the same number of tokens: once on the curated corpus, once on the raw one, each tokenized with the
same tokenizer and mixed by the same mixture file. Both are scored on one validation set (NLL per token)
and few-shot on the MMLU items lm-eval ships; `compare.md` puts them side by side.

`infir demo` runs the raw arm of this comparison against its own curated anneal (stages `*-raw`).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import typer

from infir.cli_app import typer_app
from infir.config import ConfigError, dump_yaml, resolve
from infir.launcher.chain import infir_argv as _infir
from infir.paths import CONF_DIR

app = typer_app()

#: the 282 real MMLU items lm-eval's wheel ships (57 subjects, 4-5 each, 281 with the four choices the
#: A-D template scores); shots come from the same file without the item itself, so at most 2 (the fewest
#: scorable items in a subject is 3: college_chemistry)
MMLU_SHOTS = 2


@dataclass
class CompareDataConfig:
    output: str = "runs/compare_data"
    #: folders with one subfolder of JSONL shards per mixture source (`raw/web/*.jsonl`, ...)
    raw: str = ""
    curated: str = ""
    #: a mixture YAML naming those sources (conf/mixtures/); its shares apply to both arms
    mixture: str = str(CONF_DIR / "mixtures" / "demo.yaml")
    tokenizer: str = ""
    #: the pretrained checkpoint both anneals start from (weights and optimizer state)
    init: str = ""
    #: validation JSONL (`infir eval build-valset` writes one)
    valset: str = ""
    recipe: str = "anneal_tiny"
    steps: int = field(default=60, metadata={"ge": 1})
    seq_len: int = field(default=256, metadata={"ge": 16})
    workers: int = field(default=2, metadata={"ge": 1})
    mmlu: bool = True


def mixture_sources(mixture: str | Path) -> list[str]:
    import yaml

    return list((yaml.safe_load(Path(mixture).read_text()) or {}).get("sources", {}))


def arm_stages(arm: str, data: Path, run: Path, *, tokenizer: Path, init: Path, mixture: Path, valset: Path,
               train_args: list[str], steps: int, workers: int, after: list[str], mmlu: bool = True) -> list:  # fmt: skip
    """One arm: tokenize each source of `data`, mix, anneal from `init` for `steps`, score on `valset`."""
    from infir.launcher.chain import Stage

    root, sources = run / arm, mixture_sources(mixture)
    ckpt = f"anneal-{arm}"
    stages = [
        Stage(
            name=f"tokenize-{arm}-{source}",
            argv=_infir(
                "tokenize",
                "--input",
                str(data / source),
                "--output",
                str(root / "tokens"),
                "--tokenizer",
                str(tokenizer),
                "--source",
                source,
                "--workers",
                str(workers),
                "--overwrite",
            ),  # fmt: skip
            after=list(after),
        )
        for source in sources
    ]
    counts, blend = root / "tokens" / "token_counts.json", root / "blend.yaml"
    stages += [
        Stage(
            name=f"mix-{arm}",
            argv=_infir("mix", str(mixture), "--counts", str(counts), "--output", str(blend)),
            after=[f"tokenize-{arm}-{s}" for s in sources],
        ),
        Stage(
            name=ckpt,
            argv=_infir(
                "train",
                *train_args,
                f"data.blend={blend}",
                "init.kind=checkpoint",
                f"init.path={init}",
                f"checkpoint.dir={run / ckpt}",
                f"train.train_steps={steps}",
            ),  # fmt: skip
            after=[*after, f"mix-{arm}"],
            outputs=[str(run / ckpt)],
        ),
        nll_stage(ckpt, run, valset, after=[ckpt, *after]),
    ]
    if mmlu:
        stages.append(mmlu_stage(ckpt, run))
    return stages


def nll_stage(ckpt: str, run: Path, valset: Path, after: list[str]):
    """Validation NLL per token of checkpoint `run/ckpt` (its HF export) on `valset`, into run/eval/ckpt."""
    from infir.launcher.chain import Stage

    out = run / "eval" / ckpt
    return Stage(
        name=f"eval-{ckpt}",
        argv=_infir(
            "eval",
            "web_nll",
            "--model",
            str(run / ckpt / "export"),
            "--data",
            str(valset),
            "--output",
            str(out),
        ),  # fmt: skip
        after=after,
        outputs=[str(out)],
    )


def mmlu_stage(ckpt: str, run: Path):
    """Few-shot MMLU (lm-eval's per-subject protocol) on the shipped items, for checkpoint `run/ckpt`."""
    from infir.launcher.chain import Stage

    out = run / "eval" / f"{ckpt}-mmlu"
    return Stage(
        name=f"mmlu-{ckpt}",
        argv=_infir(
            "eval",
            "harness_mmlu",
            "--model",
            str(run / ckpt / "export"),
            "--output",
            str(out),
            "data=pkg:lm-eval:mmlu",
            "fewshot_data=pkg:lm-eval:mmlu",
            "fewshot_from_test=true",
            f"num_fewshot={MMLU_SHOTS}",
        ),  # fmt: skip
        after=[ckpt],
        outputs=[str(out)],
    )


def _metrics(path: Path) -> dict | None:
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    return data.get("metrics", data)


def comparison_lines(run: Path, arms: dict[str, str]) -> list[str]:
    """Markdown: one row per arm (label -> its anneal checkpoint's stage name); [] until both are scored."""
    rows = []
    for label, ckpt in arms.items():
        nll = _metrics(run / "eval" / ckpt / "web_nll.json")
        if nll is None:
            return []
        log = run / ckpt / "metrics.jsonl"
        train = [json.loads(x) for x in log.read_text().splitlines() if x.strip()] if log.exists() else []
        mmlu = _metrics(run / "eval" / f"{ckpt}-mmlu" / "harness_mmlu.json")
        rows.append((label, nll["nll_per_token"], train[-1] if train else None, mmlu))
    lines = ["| anneal data | steps | last train loss | validation NLL/token | MMLU acc (shots) |",
             "| --- | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for label, nll, last, mmlu in rows:
        step, loss = (last["step"], f"{last['loss']:.3f}") if last else ("-", "-")
        acc = f"{mmlu['acc']:.3f} ({int(mmlu['num_fewshot'])})" if mmlu else "-"
        lines.append(f"| {label} | {step} | {loss} | {nll:.4f} | {acc} |")
    (a, nll_a, *_), (b, nll_b, *_) = rows[0], rows[-1]
    better = a if nll_a < nll_b else b
    lines += ["", f"{a} minus {b}: {nll_a - nll_b:+.4f} NLL/token ({better} better)."]
    return lines


def build_stages(cfg: CompareDataConfig) -> list:
    from infir.launcher.chain import Stage

    for name in ("raw", "curated", "tokenizer", "init", "valset"):
        if not getattr(cfg, name):
            raise ConfigError(name, f"required: {name}=PATH")
    run = Path(cfg.output).resolve()
    common = dict(tokenizer=Path(cfg.tokenizer).resolve(), init=Path(cfg.init).resolve(),
                  mixture=Path(cfg.mixture).resolve(), valset=Path(cfg.valset).resolve(),
                  train_args=[cfg.recipe, f"data.tokenizer={Path(cfg.tokenizer).resolve()}",
                              f"train.seq_length={cfg.seq_len}"],
                  steps=cfg.steps, workers=cfg.workers, after=[], mmlu=cfg.mmlu)  # fmt: skip
    stages = [*arm_stages("curated", Path(cfg.curated).resolve(), run, **common),
              *arm_stages("raw", Path(cfg.raw).resolve(), run, **common)]  # fmt: skip
    stages.append(Stage(name="report", argv=[sys.executable, "-m", "infir.compare_data", "report", str(run)],
                        after=[s.name for s in stages]))  # fmt: skip
    return stages


def check_inputs(cfg: CompareDataConfig) -> list[str]:
    """What is missing on disk, one line each (the dry run prints these; the run refuses)."""
    missing = [f"{k}: {getattr(cfg, k)} not found" for k in ("tokenizer", "init", "valset", "mixture")
               if not Path(getattr(cfg, k)).exists()]  # fmt: skip
    from infir.data.shards import resolve_inputs

    for arm in ("raw", "curated"):
        for source in mixture_sources(cfg.mixture) if Path(cfg.mixture).is_file() else []:
            try:
                resolve_inputs([str(Path(getattr(cfg, arm)) / source)])
            except ConfigError as exc:
                missing.append(f"{arm}: source {source!r}: {exc.message}")
    return missing


@app.command(help=__doc__)
def compare(
    overrides: list[str] = typer.Argument(
        None,
        help="key=value: raw=DIR curated=DIR tokenizer=DIR init=CKPT "
        "valset=JSONL [steps=60 mixture=YAML recipe=...]",
    ),  # fmt: skip
    dry_run: bool = typer.Option(False, "--dry-run", help="print the config, the stages and what is missing"),
) -> None:
    """Anneal one checkpoint on raw vs curated data at equal tokens and compare (see module doc)."""
    cfg = resolve(CompareDataConfig(), overrides=overrides or [])
    stages = build_stages(cfg)
    missing = check_inputs(cfg)
    if dry_run:
        typer.echo(dump_yaml(cfg))
        for stage in stages:
            typer.echo(f"# {stage.name}: {' '.join(stage.argv[2:])}")
        for line in missing:
            typer.echo(f"missing: {line}")
        raise typer.Exit(0)
    if missing:
        raise ConfigError(missing[0].split(":")[0], "; ".join(missing))
    from infir.launcher.local import LocalRunner

    run = Path(cfg.output)
    run.mkdir(parents=True, exist_ok=True)
    (run / "compare_config.yaml").write_text(dump_yaml(cfg))
    results = LocalRunner(run / "_stages").run(stages)
    if any(r.status == "failed" for r in results):
        raise typer.Exit(1)
    typer.echo(f"\n{(run / 'compare.md').read_text()}")


def write_report(run: Path) -> None:
    """RUN/compare.md from the two arms' scores (the chain's last stage: `python -m infir.compare_data report`)."""
    lines = comparison_lines(run, {"curated": "anneal-curated", "raw": "anneal-raw"})
    text = "# Raw vs curated data (continued pretraining at equal tokens)\n\n" + "\n".join(lines) + "\n"
    (run / "compare.md").write_text(text)
    print(f"compare -> {run / 'compare.md'}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["report"] and len(sys.argv) == 3:
        write_report(Path(sys.argv[2]))
    else:
        app()
