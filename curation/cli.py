"""`infir curate`: run a pipeline by name (`infir curate web --input X --output Y`), plus helpers.

The group treats any unknown subcommand as a pipeline name (conf/curation/<name>.yaml or a YAML path), so
new pipelines need no code. Commands owned by other modules (train-recall, build-decontam-index) are
imported only when used, and left out if their module is not installed.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import click

from infir.config import dump_yaml, resolve

#: name -> (module, attribute) of commands that live with their step's code
EXTERNAL = {
    "train-recall": ("infir.curation.recall_cli", "train_recall_cmd"),
    "recall-rounds": ("infir.curation.recall_cli", "recall_rounds_cmd"),
    "build-decontam-index": ("infir.curation.decontam_cli", "build_index_cmd"),
    "select-long-cot": ("infir.curation.long_cot_cli", "select_long_cot_cmd"),
}


def _external(name: str) -> click.Command | None:
    module, attr = EXTERNAL[name]
    try:
        cmd = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None
    import typer

    cmd = typer.main.get_command(cmd) if isinstance(cmd, typer.Typer) else cmd
    cmd.name = name
    return cmd


def _pipelines() -> list[str]:
    from infir.paths import CONF_DIR

    return sorted(p.stem for p in (CONF_DIR / "curation").glob("*.yaml"))


def pipeline_command(name: str, kind: str = "curation", after=None) -> click.Command:
    """`infir curate <name>` (kind curation) or `infir synth <name>` (kind synth: conf/synth/); `after(cfg,
    output)` runs once the pipeline finished (the synth reward plot)."""

    @click.command(name=name, context_settings={"help_option_names": ["-h", "--help"]})
    @click.option(
        "--input",
        "-i",
        "inputs",
        multiple=True,
        type=click.Path(path_type=Path),
        help="Shard file (.jsonl/.jsonl.gz/.parquet) or folder of them; repeatable.",
    )
    @click.option(
        "--output", "-o", type=click.Path(path_type=Path), help="Output folder (resumes if it exists)."
    )
    @click.option(
        "--executor",
        type=click.Choice(["local", "ray"]),
        default=None,
        help="local: in-process; ray: NeMo Curator stages on Ray Data.",
    )
    @click.option("--ray-address", default=None, help="Ray cluster address; default starts a local Ray.")
    @click.option("--workers", type=click.IntRange(1), default=None,
                  help="Local executor: processes, each owning whole shards (default 1: in-process).")  # fmt: skip
    @click.option("--dry-run", is_flag=True, help="Print the resolved pipeline config as YAML and exit.")
    @click.option("--quiet", is_flag=True, help="No per-shard progress lines or summary table.")
    @click.argument("overrides", nargs=-1)
    def run(inputs, output, executor, ray_address, workers, dry_run, quiet, overrides) -> None:
        """Run this curation pipeline. OVERRIDES are `a.b=c` settings over the YAML."""
        from infir.curation.pipeline import load_config, missing_paths, run_pipeline

        missing = missing_paths(name, overrides, kind) if dry_run else []
        # a dry run resolves without the run-time inputs, and says which ones a real run still needs
        cfg = load_config(name, [*overrides, *(f"{m}=REQUIRED_AT_RUN_TIME" for m in missing)], kind)
        pairs = (("executor", executor), ("ray_address", ray_address), ("workers", workers))
        extra = {k: v for k, v in pairs if v is not None}
        if ray_address and executor is None:  # an address only makes sense for the Ray executor
            extra["executor"] = "ray"
        cfg = resolve(cfg, [extra]) if extra else cfg
        if dry_run:
            click.echo(dump_yaml(cfg), nl=False)
            for m in missing:
                click.echo(f"# missing at run time: {m}=PATH")
            if not inputs or output is None:
                click.echo("# missing at run time: --input DIR --output DIR")
            return
        if not inputs or output is None:
            raise click.UsageError("--input and --output are required (or use --dry-run)")
        report = run_pipeline(cfg, list(inputs), output, quiet=quiet)
        if after is not None:
            after(cfg, output)
        click.echo(
            f"{cfg.name}: {report.docs_in} -> {report.docs_out} docs, {report.tokens_in} -> "
            f"{report.tokens_out} tokens; funnel at {output / 'funnel.md'}"
        )

    run.help = f"Run the `{name}` {kind} pipeline. OVERRIDES are `a.b=c` settings over the YAML."
    return run


class CurateGroup(click.Group):
    """Subcommands, plus: any other name is a pipeline under conf/curation/ (or a YAML path)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        extra = [n for n in EXTERNAL if _external(n) is not None]
        return sorted(super().list_commands(ctx)) + extra + _pipelines()

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        cmd = super().get_command(ctx, name)
        if cmd is not None:
            return cmd
        if name in EXTERNAL:
            return _external(name)
        from infir.paths import conf_file

        try:
            conf_file("curation", name)
        except FileNotFoundError as exc:
            raise click.UsageError(str(exc)) from None
        return pipeline_command(name)


@click.group(cls=CurateGroup, context_settings={"help_option_names": ["-h", "--help"]})
def app() -> None:
    """Curation pipelines (`infir curate <pipeline> --input ... --output ...`) and helpers.

    Pipelines: the YAML files in conf/curation/ (web, code, math, anneal, demo, ...) or a YAML path.
    """


@app.command("list-steps")
@click.option("--dry-run", is_flag=True, help="Same listing (nothing to resolve).")
def list_steps(dry_run: bool) -> None:
    """List the registered step types with their parameters and drop reasons."""
    import dataclasses

    from infir.curation.registry import step_types

    for name, cls in step_types().items():
        params = ", ".join(f.name for f in dataclasses.fields(cls.Config))
        click.echo(f"{name:28s} reasons={list(cls.reasons)} params=[{params}]")


@app.command("sample-mixture")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="YAML MixtureSampleConfig.")
@click.option(
    "--source",
    "sources",
    multiple=True,
    help="NAME=PATH[@WEIGHT]; repeatable (no weight: the source's own token share).",
)
@click.option("--output", "-o", default=None, help="Output folder.")
@click.option(
    "--target-tokens", type=int, default=None, help="Tokens in the mixture (0 = all the scarcest allows)."
)
@click.option("--seed", type=int, default=None)
@click.option("--dry-run", is_flag=True, help="Print the resolved config as YAML and exit.")
@click.argument("overrides", nargs=-1)
def sample_mixture_cmd(config_path, sources, output, target_tokens, seed, dry_run, overrides) -> None:
    """Sample the anneal mixture by source proportion (deterministic for a seed)."""
    from infir.curation.anneal import MixtureSampleConfig, sample_mixture

    layer: dict = {"sources": {}}
    for item in sources:
        name, _, rest = item.partition("=")
        path, _, weight = rest.partition("@")
        layer["sources"][name] = {"path": path, "weight": float(weight) if weight else None}
    for key, val in (("output", output), ("target_tokens", target_tokens), ("seed", seed)):
        if val is not None:
            layer[key] = val
    if not layer["sources"]:
        del layer["sources"]
    layers = ([config_path] if config_path else []) + [layer]
    cfg = _resolve_unvalidated(MixtureSampleConfig, layers, overrides)
    if dry_run:
        click.echo(dump_yaml(cfg), nl=False)
        return
    summary = sample_mixture(cfg)
    for name, row in summary.items():
        click.echo(f"{name:20s} share={row['share']:.3f} docs={row['docs']} tokens={row['tokens']}")


def _resolve_unvalidated(cls, layers, overrides):
    """Merge layers then build strictly once (the empty default would fail validate())."""
    from infir.config import resolve_merged

    return resolve_merged(cls, layers, overrides)


if __name__ == "__main__":
    app(sys.argv[1:])
