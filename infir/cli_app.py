"""One look for every `infir` subcommand built with Typer: click's plain help (as the click-built
`curate` and `eval` print it), `-h` as well as `--help`, no shell-completion options, tracebacks only
with --debug (infir/cli.py turns user errors into one line)."""

from __future__ import annotations

from typing import Any

import typer


def typer_app(**kwargs: Any) -> typer.Typer:
    return typer.Typer(
        add_completion=False,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
        **kwargs,
    )
