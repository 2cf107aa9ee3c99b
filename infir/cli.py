"""`infir`: one command line over curation, data, training, evaluation and launching.

Each subcommand lives with its area (curation/cli.py, recipes/cli.py, ...) and is imported only when it
runs, so `infir --help` is instant and CPU-only commands never import GPU stacks. An area module exports
`app`, a Typer app or a click command.
"""

from __future__ import annotations

import importlib
import os
import sys

import click
import typer

#: subcommand -> (module, attribute, one-line help shown by `infir --help`)
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "curate": (
        "infir.curation.cli",
        "app",
        "Run a curation pipeline (conf/curation/*.yaml) or train a recall model.",
    ),
    "synth": (
        "infir.synth.cli",
        "app",
        "Generate synthetic data (conf/synth/*.yaml): evolve, answer, best-of-N, judge, verify code.",
    ),
    "tokenize": (
        "infir.data.cli",
        "tokenize_app",
        "Tokenize curated shards into Megatron .bin/.idx datasets.",
    ),
    "mix": (
        "infir.data.cli",
        "mix_app",
        "Turn mixture shares + token counts + budget into Megatron blend weights.",
    ),
    "train": (
        "infir.recipes.cli",
        "app",
        "Train a recipe (pretrain/anneal/sft/long-CoT/VLM) on CPU or Megatron.",
    ),
    "eval": (
        "infir.evaluation.cli",
        "app",
        "Evaluate a checkpoint with a suite (conf/eval/*.yaml) or compare runs.",
    ),
    "launch": ("infir.launcher.cli", "app", "Render and submit stages to SLURM (or run them locally)."),
    "vlm": (
        "infir.recipes.vlm.cli",
        "app",
        "InfiR-VL-1.6B: clean image-text pairs, convert GUI data, run stages.",
    ),
    "demo": ("infir.demo", "app", "Run the whole chain at toy scale on the shipped corpus (CPU, minutes)."),
    "compare-data": (
        "infir.compare_data",
        "app",
        "Anneal one checkpoint on raw vs curated data at equal tokens; NLL and MMLU side by side.",
    ),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in SUBCOMMANDS:
            return None
        module, attr, _ = SUBCOMMANDS[name]
        obj = getattr(importlib.import_module(module), attr)
        cmd = typer.main.get_command(obj) if isinstance(obj, typer.Typer) else obj
        cmd.name = name
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, _, help_) in SUBCOMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="infir-recipes")
def cli() -> None:
    """infir-recipes: the InfiR recipe for small reasoning models, end to end.

    Every subcommand takes --dry-run, which prints the fully resolved config and exits.
    Start with `infir demo`, which runs the whole chain at toy scale on this machine.
    """


def main(argv: list[str] | None = None) -> None:
    # Nothing at run time may reach a model hub; real runs pass local paths.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from infir.config import ConfigError
    from infir.errors import UserError

    args = list(argv if argv is not None else sys.argv[1:])
    # --debug (anywhere) or INFIR_DEBUG=1: user errors show their traceback instead of one line
    debug = "--debug" in args or os.environ.get("INFIR_DEBUG") == "1"
    args = [a for a in args if a != "--debug"]
    try:
        cli.main(args=args, prog_name="infir", standalone_mode=False)
    except ConfigError as exc:
        if debug:
            raise
        click.secho(f"config error: {exc}", fg="red", err=True)
        sys.exit(2)
    except UserError as exc:
        if debug:
            raise
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(2)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError) as exc:
        # a path the user gave is missing or unreadable: the message names it; the stack adds nothing
        if debug:
            raise
        click.secho(f"error: {exc} (--debug shows the traceback)", fg="red", err=True)
        sys.exit(2)
    except (click.exceptions.Abort, typer.Abort):
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.exceptions.Exit, typer.Exit) as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:
        # Typer vendors its own click: its usage errors are not click.ClickException instances.
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
