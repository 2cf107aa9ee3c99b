"""`infir tokenize` and `infir mix`: each a one-command Typer app, so each is a plain command."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from infir.cli_app import typer_app

from infir.config import ConfigError, dump_yaml, from_dict

tokenize_app = typer_app()
mix_app = typer_app()


# long: the Typer options are the signature (30 lines of declarations); the body is 25 lines
@tokenize_app.command()
def tokenize(
    inputs: Annotated[
        list[str],
        typer.Option(
            "--input",
            "-i",
            help="Shard folder (a curation output folder uses its kept/) or .jsonl file; repeat.",
        ),
    ] = None,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Folder for <source>_text_document.{bin,idx}.")
    ] = None,
    tokenizer: Annotated[
        str | None, typer.Option("--tokenizer", "-t", help="Local Hugging Face tokenizer folder.")
    ] = None,
    source: Annotated[
        str | None, typer.Option(help="Source name (default: the input folder's name).")
    ] = None,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    text_field: Annotated[str, typer.Option(help="JSON field holding the document text.")] = "text",
    chunk_mb: Annotated[float, typer.Option(help="Work unit: MB of JSONL per chunk.")] = 64.0,
    add_bos: Annotated[bool, typer.Option(help="Also prepend BOS to each document.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Redo a source even if it is complete.")] = False,
    train_tokenizer: Annotated[
        int | None,
        typer.Option(help="First train a byte-level BPE of this vocab size on the inputs into --tokenizer."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved config and exit.")] = False,
) -> None:
    """Tokenize curated JSONL shards into a Megatron indexed dataset (.bin/.idx), EOS after each document.

    Writes OUTPUT/<source>_text_document.{bin,idx} and merges the source's counts into
    OUTPUT/token_counts.json. A source already complete there is skipped; an interrupted run resumes.
    """
    from infir.data.tokenize import TokenizeConfig, default_source, run_tokenize

    given = {"--input": inputs, "--output": output, "--tokenizer": tokenizer}
    missing = [opt for opt, value in given.items() if not value]
    if missing and not dry_run:
        from infir.config import ConfigError

        raise ConfigError(missing[0], f"required: {', '.join(missing)} (--dry-run resolves without them)")
    hole = "REQUIRED_AT_RUN_TIME"  # a dry run resolves without the run-time paths, then names them
    data = {"inputs": inputs or [hole], "output": output or hole, "tokenizer": tokenizer or hole,
            "source": source, "workers": workers}  # fmt: skip
    data.update(text_field=text_field, chunk_mb=chunk_mb, add_bos=add_bos, overwrite=overwrite)
    cfg = from_dict(TokenizeConfig, data)
    cfg.source = cfg.source or default_source(cfg.inputs)
    if dry_run:
        typer.echo(dump_yaml(cfg), nl=False)
        for opt in missing:
            typer.echo(f"# missing at run time: {opt}")
        if train_tokenizer:
            typer.echo(
                f"# then: train a BPE tokenizer of vocab size {train_tokenizer} into {tokenizer} first"
            )
        return
    if train_tokenizer:
        _train_tokenizer(cfg, train_tokenizer)
    from infir.data.progress import summary_table

    typer.echo(summary_table([run_tokenize(cfg)]))


def _train_tokenizer(cfg, vocab_size: int) -> None:
    from infir.data.shards import plan_chunks, read_texts, resolve_inputs
    from infir.data.tokenizer import train_bpe

    target = Path(cfg.tokenizer)
    if (target / "tokenizer.json").is_file():
        typer.echo(f"tokenizer exists at {target}; reusing it (delete the folder to retrain)", err=True)
        return
    chunks = plan_chunks(resolve_inputs(cfg.inputs), 64 * 2**20)
    texts = (t for c in chunks for t in read_texts(c, cfg.text_field))
    train_bpe(texts, vocab_size, target)
    typer.echo(f"trained a BPE tokenizer (vocab {vocab_size}) into {target}", err=True)


def parse_tokens(text: str) -> int:
    """`900B`, `40b`, `2.5M`, `123456` -> an integer token count."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmbt]?)\s*", text.lower())
    if not match:
        raise ConfigError("budget", f"expected a token count like 900B, 40B, 2M or 123456, got {text!r}")
    scale = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "t": 10**12}[match.group(2)]
    return int(round(float(match.group(1)) * scale))


@mix_app.command()
def mix(
    mixture: Annotated[
        str,
        typer.Argument(
            metavar="MIXTURE", help="Mixture YAML, or a name under conf/mixtures (pretrain, anneal, demo)."
        ),
    ],
    counts: Annotated[
        str, typer.Option(help="token_counts.json written by `infir tokenize`.")
    ] = "token_counts.json",
    output: Annotated[str, typer.Option("--output", "-o", help="Blend YAML to write.")] = "blend.yaml",
    budget: Annotated[
        str | None, typer.Option(help="Token budget, e.g. 900B or 40B (default: the mixture's).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved mixture and exit.")] = False,
) -> None:
    """Turn mixture shares + token counts + a token budget into Megatron blend weights and epochs per source.

    Writes OUTPUT as {blend: [[weight, prefix], ...], epochs: {source: e}, budget_tokens: N, ...}, which
    megatron-core's BlendedMegatronDatasetBuilder reads. Warns when a source would repeat more than the
    mixture's max_epochs.
    """
    from infir.data.mix import build_blend, load_mixture
    from infir.paths import conf_file

    try:
        path = conf_file("mixtures", mixture)
    except FileNotFoundError as exc:
        raise ConfigError("mixture", str(exc)) from None
    cfg = load_mixture(path, parse_tokens(budget) if budget is not None else None)
    if dry_run:
        typer.echo(f"# mixture: {path}\n# counts: {counts}\n# output: {output}")
        typer.echo(dump_yaml(cfg), nl=False)
        return
    blend = build_blend(cfg, counts)
    from infir.data.megatron import check_prefix

    # a blend naming data that is not there would only fail hours later, inside the training job
    for weight, prefix in blend.blend:
        check_prefix(prefix, f"blend prefix {prefix} (weight {weight:g})")
    blend.save(output)
    typer.echo(_blend_table(blend))
    for line in blend.warnings:
        typer.secho(f"warning: {line}", fg="yellow", err=True)
    typer.echo(f"wrote {output}")


def _blend_table(blend) -> str:
    head = ["source", "share", "tokens", "target", "epochs"]
    rows = [
        [s.name, f"{s.share:.4f}", f"{s.tokens:,}", f"{s.target_tokens:,}", f"{s.epochs:.3f}"]
        for s in blend.sources
    ]
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    lines = ["  ".join(x.ljust(w) for x, w in zip(r, widths)) for r in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
