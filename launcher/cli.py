"""`infir launch`: render a stage or a whole pipeline as sbatch jobs and submit them (or run locally).

    infir launch pretrain_900b --cluster conf/cluster/h100_8x8.yaml --dry-run  # print the 64-GPU job
    infir launch infir --cluster conf/cluster/h100_8x8.yaml                   # whole afterok chain
    infir launch tiny --cluster conf/cluster/local_slurm.yaml --local         # same chain, no SLURM
    infir launch infir --var raw=/lustre/raw --var base_model=/models/Llama-3.2-1B --dry-run

TARGET is a pipeline (a name in conf/pipelines/ or a YAML path) or one stage of --pipeline. --var NAME=VALUE
sets the pipeline's `vars` (site paths) without editing a copy of its YAML.
"""

from __future__ import annotations

from pathlib import Path

import typer

from infir.cli_app import typer_app
from infir.config import ConfigError, dump_yaml
from infir.launcher.chain import Chain, load_pipeline
from infir.launcher.cluster import load_cluster

app = typer_app(help=__doc__, no_args_is_help=True)


def _pipeline_path(name: str) -> Path | None:
    """A pipeline YAML path or a name in conf/pipelines/; None when `name` is neither (a stage name)."""
    from infir.paths import conf_file

    try:
        return conf_file("pipelines", name)
    except FileNotFoundError:
        return None


def parse_vars(items: list[str] | None) -> dict[str, str]:
    """`["raw=/data", ...]` -> {"raw": "/data"}; values stay strings (they are pasted into argv)."""
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError("--var", f"expected NAME=VALUE, got {item!r}")
        out[name.strip()] = value
    return out


def resolve_target(
    target: str, pipeline: str, run_dir: Path, vars_overrides: dict[str, str] | None = None
) -> Chain:
    """A pipeline name/path gives its whole chain; a stage name gives that stage of `pipeline`."""
    path = _pipeline_path(target)
    if path is not None:
        return load_pipeline(path, run_dir, vars_overrides)
    pipe_path = _pipeline_path(pipeline)
    if pipe_path is None:
        raise ConfigError("pipeline", f"no pipeline {pipeline!r} in conf/pipelines/")
    return load_pipeline(pipe_path, run_dir, vars_overrides).only([target])


@app.command()
def launch(
    target: str = typer.Argument(..., help="Pipeline (name in conf/pipelines/ or YAML path) or stage name."),
    overrides: list[str] = typer.Argument(
        None, help="Cluster overrides a.b=c, e.g. partition=batch nodes=4."
    ),
    cluster: Path = typer.Option(
        Path("conf/cluster/local_slurm.yaml"), "--cluster", "-c", help="Cluster profile."
    ),
    pipeline: str = typer.Option("infir", help="Pipeline that holds TARGET when TARGET is a stage name."),
    run_dir: str = typer.Option(
        None,
        "--run-dir",
        help="Logs, scripts, done markers and stage outputs: a host or container path under a mount "
        "(default: <the /runs mount>/infir, or ./runs/infir without containers).",
    ),
    var: list[str] = typer.Option(
        None, "--var", help="Pipeline var NAME=VALUE (repeatable), e.g. raw=/data."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved profile and sbatch scripts."),
    local: bool = typer.Option(False, "--local", help="Run the chain here as subprocesses (no SLURM)."),
) -> None:
    """Render each stage's sbatch (saved as <run-dir>/<stage>/<stage>.sbatch) and submit the chain."""
    import os

    from infir.launcher.layout import run_dirs, training_layout

    cfg = load_cluster(cluster, overrides or [])
    dirs = run_dirs(cfg, run_dir, os.getcwd())
    chain = resolve_target(target, pipeline, Path(dirs.job), parse_vars(var))
    if local or cfg.local:
        if dry_run:
            typer.echo(dump_yaml(cfg))
            for stage in chain:
                typer.echo(f"# {stage.name} (after {stage.after or '-'}): {' '.join(stage.argv)}")
            return
        from infir.launcher.local import LocalRunner

        results = LocalRunner(Path(dirs.host)).run(chain)
        if any(r.status == "failed" for r in results):
            raise typer.Exit(1)
        return
    from infir.launcher.slurm import submit_chain

    layouts = [line for stage in chain if (line := training_layout(stage, cfg))]  # refuses bad splits first
    subs = submit_chain(chain, cfg, dirs.host, dry_run=dry_run, job_run_dir=dirs.job)
    if dry_run:
        typer.echo(
            "# resolved cluster profile\n" + "\n".join(f"# {ln}" for ln in dump_yaml(cfg).splitlines())
        )
        typer.echo(f"# run dir: {dirs.host} on the host, {dirs.job} in the jobs")
        for line in layouts:
            typer.echo(f"# layout: {line}")
    for sub in subs:
        if dry_run:
            typer.echo(f"\n# ---- {sub.script} (dependency: {sub.dependency or 'none'}) ----")
            typer.echo(sub.text, nl=False)
        elif sub.skipped:
            typer.echo(f"{sub.stage}: already done, skipped")
        else:
            typer.echo(f"{sub.stage}: job {sub.job_id} ({sub.dependency or 'no dependency'}) {sub.script}")
