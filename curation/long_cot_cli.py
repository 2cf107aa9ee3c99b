"""`infir curate select-long-cot`: the long-CoT SFT sets (curation/long_cot.py) from local JSONL files."""

from __future__ import annotations

from pathlib import Path

import click

from infir.config import dump_yaml, from_dict, overrides_to_dict


@click.command("select-long-cot")
@click.option("--input", "-i", "inputs", multiple=True, type=click.Path(path_type=Path),
              help="NuminaMath-QwQ-CoT JSONL files (local); repeatable.")  # fmt: skip
@click.option(
    "--output", "-o", type=click.Path(path_type=Path), help="Folder for pool/subset/rejects/funnel."
)
@click.option("--dry-run", is_flag=True, help="Print the resolved config as YAML and exit.")
@click.argument("overrides", nargs=-1)
def select_long_cot_cmd(inputs, output, dry_run, overrides) -> None:
    """Select the 2M long-CoT pool and its 200K s1-style subset. OVERRIDES: pool_size=, subset_size=,
    trace_field=, domain_field=, pass_rate_field=, max_pass_rate=, max_trace_words=, seed=."""
    from infir.curation.long_cot import LongCoTConfig, select

    cfg = from_dict(LongCoTConfig, overrides_to_dict(overrides))
    if dry_run:
        click.echo(dump_yaml(cfg), nl=False)
        if not inputs or output is None:
            click.echo("# missing at run time: --input FILE --output DIR")
        return
    if not inputs or output is None:
        raise click.UsageError("--input and --output are required (or use --dry-run)")
    s = select(list(inputs), output, cfg)
    click.echo(
        f"read {s['read']}, quality passed {s['quality_passed']}, pool {s['pool']}, subset {s['subset']}"
    )
    for reason, n in s["dropped"].items():
        click.echo(f"  dropped {n:>9} {reason}")
    p = s["trace_words"]
    click.echo(f"trace words p50 {p['p50']} p90 {p['p90']} p99 {p['p99']} max {p['p100']} "
               f"(size sft_long_cot's train.seq_length to the p99 in tokens)")  # fmt: skip
    click.echo(f"subset domains: {s['subset_domains']}")
    click.echo(f"wrote {output}/pool.jsonl, subset.jsonl, rejects.jsonl, funnel.json")
