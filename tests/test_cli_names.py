"""One name per thing on the command line: every command of `infir` spells its options the same way."""

from __future__ import annotations

import click

from infir.cli import cli


def _commands(group: click.Group, ctx: click.Context, prefix: str = "infir"):
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if cmd is None:
            continue
        yield f"{prefix} {name}", cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, click.Context(cmd, parent=ctx), f"{prefix} {name}")


def test_output_options_are_spelt_output_everywhere():
    """A file or folder a command writes is `--output` (`--out` stays accepted as an alias), and every
    command that takes one is found: the walk covers all subcommands, imported the way the CLI does."""
    seen, wrong = 0, []
    ctx = click.Context(cli)
    for path, cmd in _commands(cli, ctx):
        for param in cmd.params:
            if not isinstance(param, click.Option):
                continue
            if "--out" in param.opts or "--output" in param.opts:
                seen += 1
                if param.opts[0] != "--output":
                    wrong.append(f"{path}: {param.opts}")
    assert not wrong, wrong
    assert seen >= 10, seen  # curate, tokenize, eval, demo_steps-free CLIs: the walk really found them


def test_llm_and_vlm_recipes_name_shared_settings_alike():
    """global_batch_size, micro_batch_size and clip_grad mean the same in both recipe families."""
    from infir.config import to_dict
    from infir.recipes.registry import get_recipe

    def keys(node, out):
        if isinstance(node, dict):
            for k, v in node.items():
                out.add(k)
                keys(v, out)
        return out

    llm, vlm = to_dict(get_recipe("sft")), to_dict(get_recipe("vlm_stage1_projector"))
    assert {"global_batch_size", "micro_batch_size"} <= set(llm["train"]) and "clip_grad" in llm["optim"]
    assert {"global_batch_size", "micro_batch_size"} <= set(vlm) and "clip_grad" in vlm["optim"]
    assert not keys(llm, set()) & {"global_batch", "micro_batch", "grad_clip"}
    assert not keys(vlm, set()) & {"global_batch", "micro_batch", "grad_clip"}


def test_every_command_help_looks_the_same():
    """Typer- and click-built commands print the same plain help, answer -h, offer no completion."""
    import subprocess
    import sys

    from infir.cli import SUBCOMMANDS

    for name in SUBCOMMANDS:
        out = subprocess.run([sys.executable, "-m", "infir.cli", name, "-h"], capture_output=True, text=True,
                             timeout=120)  # fmt: skip
        assert out.returncode == 0, (name, out.stderr[-1000:])
        assert out.stdout.startswith("Usage: "), (name, out.stdout[:80])
        assert "╭" not in out.stdout and "--install-completion" not in out.stdout, (name, out.stdout[:300])
