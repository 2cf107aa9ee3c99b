"""`infir train RECIPE [--config x.yaml ...] [a.b=c ...] [--dry-run] [--list]`."""

from __future__ import annotations

from pathlib import Path

import typer

from infir.cli_app import typer_app

app = typer_app(help="Train a recipe on the CPU engine or Megatron-Bridge.")


def _usage(message: str) -> None:
    # SystemExit, not a typer/click exception: infir.cli runs click with standalone_mode=False.
    typer.echo(f"usage error: {message}; see `infir train --help`", err=True)
    raise SystemExit(2)


@app.command()
def train(
    recipe: str = typer.Argument(
        None, help="Recipe name (see --list); `all` with --dry-run prints every one."
    ),
    overrides: list[str] = typer.Argument(None, help="Overrides like optim.lr=3e-4 data.blend=blend.yaml."),
    config: list[Path] = typer.Option([], "--config", "-c", help="YAML override file(s), applied in order."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved config as YAML and exit."),
    list_: bool = typer.Option(False, "--list", help="List the registered recipes and exit."),
    engine_config: bool = typer.Option(
        False,
        "--engine-config",
        help="With --dry-run: also build the Megatron-Bridge ConfigContainer (needs Bridge), validate it at "
        "the recipe's world size and print it.",
    ),
    plot: Path = typer.Option(
        None,
        "--plot",
        help="With --dry-run: draw the LR per step to this PNG (with the "
        "stage it continues, e.g. pretrain before anneal).",
    ),
) -> None:
    """Resolve RECIPE < --config YAML < a.b=c overrides, then train it (or print it with --dry-run)."""
    from infir.config import dump_yaml, resolve
    from infir.recipes.registry import get_recipe, recipes

    table = recipes()
    if list_:
        for name, fn in table.items():
            doc = (fn.__doc__ or "").strip().splitlines()
            typer.echo(f"{name:22s} {doc[0] if doc else ''}")
        return
    if not recipe:
        _usage("give a recipe name (or --list)")
    names = list(table) if recipe == "all" else [recipe]
    if recipe == "all" and not dry_run:
        _usage("`all` only works with --dry-run")
    for name in names:
        cfg = resolve(get_recipe(name), config, overrides or [])
        if dry_run:
            if len(names) > 1:
                typer.echo(f"# --- recipe: {name}")
            typer.echo(dump_yaml(cfg))
            from infir.recipes.config import TrainConfig

            if isinstance(cfg, TrainConfig):
                from infir.recipes import schedule_view

                typer.echo("\n".join(schedule_view.summary(cfg)))
                if plot is not None:
                    typer.echo(f"# LR plot: {schedule_view.plot(cfg, plot)}")
            if engine_config:
                from infir.recipes.bridge import engine_config_yaml

                text = engine_config_yaml(cfg)  # Bridge logs while it validates: print the YAML after
                typer.echo(f"# --- Megatron-Bridge ConfigContainer of {name}")
                typer.echo(text)
            continue
        from infir.recipes.engines import run

        run(cfg)
