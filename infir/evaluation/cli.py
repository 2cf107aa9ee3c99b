"""`infir eval`: run a suite (`infir eval <suite> --model DIR`), `compare` checkpoints, `build-valset`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from infir.config import dump_yaml


class SuiteGroup(click.Group):
    """A group where any name that is not a subcommand is an eval suite (conf/eval/<name>.yaml or a path)."""

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        cmd = super().get_command(ctx, name)
        return cmd if cmd is not None else _suite_command(name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_commands(ctx, formatter)
        from infir.evaluation.suites import suite_names

        with formatter.section("Suites (conf/eval/*.yaml)"):
            formatter.write_dl([(n, f"infir eval {n} --model DIR") for n in suite_names()])


def _suite_command(name: str) -> click.Command:
    @click.command(name=name, help=f"Run eval suite {name!r} on a local HF checkpoint.")
    @click.option("--model", "model", type=click.Path(), help="HF checkpoint dir (config.json + tokenizer).")
    @click.option("--data", default=None, help="Override the suite's local data file.")
    @click.option("--output", default=None, type=click.Path(), help="Results dir (default: <model>/eval).")
    @click.option("--dry-run", is_flag=True, help="Print the resolved suite config and exit.")
    @click.option(
        "--samples",
        default=None,
        type=click.Path(),
        help="Code suites: score this JSONL of task_id + completion (several per task allowed) without a "
        "model; writes <samples>_results.jsonl and pass@k.",
    )
    @click.argument("overrides", nargs=-1)
    def run(
        model: str | None, data: str | None, output: str | None, dry_run: bool, samples, overrides
    ) -> None:
        from infir.evaluation.suites import VLM_KINDS, load_suite, run_suite

        extra = list(overrides) + ([f"data={data}"] if data else [])
        cfg = load_suite(name, extra)
        if dry_run:
            click.echo(dump_yaml(cfg), nl=False)
            return
        if samples:
            _score_samples(cfg, Path(samples))
            return
        if not model and cfg.kind not in VLM_KINDS:  # they score a predictions file
            raise click.UsageError("--model is required (a local HF checkpoint dir)")
        out_dir = Path(output) if output else Path(model or ".") / "eval"
        result = run_suite(cfg, model, out_dir)
        click.echo((out_dir / f"{cfg.name}.md").read_text())
        click.echo(f"results: {out_dir / (cfg.name + '.json')}  ({result['seconds']}s)")

    return run


def _score_samples(cfg, samples: Path) -> None:
    from infir.config import ConfigError
    from infir.evaluation.codeexec import read_problems, score_samples
    from infir.evaluation.sandbox import Limits

    if cfg.kind not in ("humaneval", "humaneval_plus"):
        raise ConfigError("--samples", f"suite {cfg.name!r} ({cfg.kind}) does not execute code")
    if not samples.is_file():
        raise ConfigError("--samples", f"{samples}: file not found")
    out = samples.with_name(samples.stem + "_results.jsonl")
    problems = read_problems(cfg.data_path())
    limits = Limits(timeout_s=cfg.timeout_s, memory_mb=cfg.memory_mb)
    if cfg.kind == "humaneval_plus":
        import json

        from infir.evaluation import evalplus
        from infir.evaluation.codeexec import read_samples

        res = evalplus.score_plus(problems, read_samples(samples, problems), limits, ks=(1, 10, 100))
        out.write_text("".join(json.dumps(r) + "\n" for r in res["per_sample"]))
        result = evalplus.flat(res)
    else:
        result = score_samples(samples, problems, out, limits=limits)
    for key, value in result.items():
        click.echo(f"{key:10s} {value:.4f}" if isinstance(value, float) else f"{key:10s} {value}")
    click.echo(f"per-sample results: {out}")


@click.group(cls=SuiteGroup, context_settings={"help_option_names": ["-h", "--help"]})
def app() -> None:
    """Evaluate a checkpoint: `infir eval <suite> --model DIR` (suites in conf/eval/), `compare`, `build-valset`."""


@app.command("compare")
@click.argument("result_dirs", nargs=-1, required=True)
@click.option(
    "--output", "--out", "out_png", default="eval_compare.png", show_default=True, help="PNG to write."
)
@click.option("--labels", default=None, help="Comma-separated labels, one per result dir.")
@click.option("--dry-run", is_flag=True, help="Print what would be compared and exit.")
@click.option(
    "--paper",
    default=None,
    help="A table of conf/paper/infir_tables.yaml (table1_base_fewshot, table2_instruct_zeroshot, "
    "table6_long_cot_2m, ...): print and plot the paper's numbers beside RESULT_DIR's.",
)
def compare_cmd(
    result_dirs: tuple[str, ...], out_png: str, labels: str | None, dry_run: bool, paper: str | None
) -> None:
    """Plot suite metrics across checkpoints' result dirs (one x tick per checkpoint / data mixture)."""
    if paper:
        _compare_paper(paper, result_dirs, out_png, dry_run)
        return
    names = labels.split(",") if labels else None
    if names is not None and len(names) != len(result_dirs):
        raise click.BadParameter(
            f"{len(names)} labels for {len(result_dirs)} result dirs", param_hint="--labels"
        )
    if dry_run:
        click.echo(
            dump_yaml_plain({"result_dirs": list(result_dirs), "out": out_png, "labels": names}), nl=False
        )
        return
    from infir.evaluation.report import compare

    res = compare(list(result_dirs), out_png, names)
    click.echo(f"plot: {res['png']}")


def _compare_paper(table: str, result_dirs: tuple[str, ...], out_png: str, dry_run: bool) -> None:
    from infir.config import ConfigError
    from infir.evaluation import paper

    if len(result_dirs) != 1:
        raise ConfigError("--paper", "compares one result dir with the paper's table")
    known = paper.tables()
    if table not in known:
        raise ConfigError("--paper", f"unknown table {table!r}; known: {sorted(known)}")
    if dry_run:
        click.echo(dump_yaml_plain({"paper": table, "result_dir": result_dirs[0], "out": out_png}), nl=False)
        return
    if not Path(result_dirs[0]).is_dir():
        raise ConfigError("result_dir", f"{result_dirs[0]}: not a folder of `infir eval` results")
    try:
        rows = paper.side_by_side(table, result_dirs[0])
    except FileNotFoundError as exc:
        raise ConfigError("result_dir", str(exc)) from None
    text = paper.markdown(table, rows, known[table]["model"])
    Path(out_png).with_suffix(".md").parent.mkdir(parents=True, exist_ok=True)
    Path(out_png).with_suffix(".md").write_text(text)
    click.echo(text)
    click.echo(f"plot: {paper.plot(table, rows, out_png)}")


@app.command("build-valset")
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "--model",
    "model",
    required=True,
    multiple=True,
    help="LM (HF dir) that ranks the texts by NLL; repeat it for several (a text is dropped only when "
    "it is in the worst fraction of every model's ranking).",
)
@click.option(
    "--output",
    "--out",
    "out",
    required=True,
    help="Output JSONL of kept texts (dropped ones go to *.dropped.jsonl).",
)
@click.option("--drop-fraction", default=0.2, show_default=True, type=click.FloatRange(0.0, 0.99))
@click.option("--seq-len", default=1024, show_default=True, type=int)
@click.option("--max-docs", default=None, type=int)
@click.option("--dry-run", is_flag=True, help="Print the resolved settings and exit.")
def build_valset_cmd(inputs, model, out, drop_fraction, seq_len, max_docs, dry_run) -> None:
    """Build the web validation set: drop the texts the given LM ranks worst (highest NLL per token)."""
    settings = {"inputs": list(inputs), "model": list(model), "out": out, "drop_fraction": drop_fraction,
                "seq_len": seq_len, "max_docs": max_docs}  # fmt: skip
    if dry_run:
        click.echo(dump_yaml_plain(settings), nl=False)
        return
    from infir.evaluation.valset import build_valset

    summary = build_valset(list(inputs), list(model), out, drop_fraction, seq_len=seq_len, max_docs=max_docs)
    click.echo(json.dumps(summary, indent=2))


@app.command("export-shipped")
@click.option("--output", "--out", "out", required=True, help="Folder for <benchmark>_shipped.jsonl files.")
@click.option("--benchmark", "benchmarks", multiple=True, help="mmlu|gsm8k|math|mbpp (default: all).")
@click.option("--dry-run", is_flag=True, help="Print what would be written and exit.")
def export_shipped_cmd(out: str, benchmarks: tuple[str, ...], dry_run: bool) -> None:
    """Write the real benchmark items installed packages ship (lm-eval's few-shot exemplars) as JSONL."""
    from infir.evaluation import shipped

    names = list(benchmarks) or list(shipped.SOURCES)
    if dry_run:
        click.echo(dump_yaml_plain({"out": out, "benchmarks": names}), nl=False)
        return
    try:
        paths = shipped.export(out, names)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--benchmark") from None
    for name, path in paths.items():
        click.echo(f"{name}: {sum(1 for _ in path.open())} items -> {path}")


def dump_yaml_plain(data: dict) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)
