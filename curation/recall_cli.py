"""`infir curate train-recall`: train a fastText recall classifier from seed positives vs negatives."""

from __future__ import annotations

import json
from pathlib import Path

import click

from infir.config import ConfigError, dump_yaml, from_dict
from infir.curation.recall import TrainConfig, train_recall


def _read_texts(files: tuple[str, ...], option: str) -> list[str]:
    """Texts from JSONL (`text` field) or plain text files (one document per line)."""
    out = []
    for name in files:
        path = Path(name)
        if not path.is_file():
            raise ConfigError(option, f"file not found: {path}")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            if path.suffix == ".jsonl":
                try:
                    out.append(json.loads(line)["text"])
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    raise ConfigError(
                        option, f"{path}:{n}: expected a JSON object with `text` ({exc})"
                    ) from exc
            else:
                out.append(line)
    return out


@click.command("train-recall")
@click.option(
    "--positives", multiple=True, required=True, help="Seed positive docs (.jsonl with `text`, or .txt)."
)
@click.option("--negatives", multiple=True, required=True, help="Random negative docs (same formats).")
@click.option("--output", "--out", "out", required=True, help="Where to write the fastText MODEL.bin.")
@click.option(
    "--iterations", type=int, default=1, show_default=True, help="Rounds; recalled docs become positives."
)
@click.option(
    "--heldout", type=float, default=0.1, show_default=True, help="Held-out share for precision/recall."
)
@click.option(
    "--bucket", type=int, default=200_000, show_default=True, help="fastText hash buckets (model size)."
)
@click.option("--epochs", type=int, default=3, show_default=True, help="Training epochs (DeepSeekMath: 3).")
@click.option("--lr", type=float, default=0.1, show_default=True, help="Learning rate (DeepSeekMath: 0.1).")
@click.option(
    "--min-count", type=int, default=3, show_default=True, help="Drop rarer words (DeepSeekMath: 3)."
)
@click.option("--word-ngrams", type=int, default=3, show_default=True, help="Word n-grams (DeepSeekMath: 3).")
@click.option("--dry-run", is_flag=True, help="Print the resolved config as YAML and exit.")
def train_recall_cmd(
    positives, negatives, out, iterations, heldout, bucket, epochs, lr, min_count, word_ngrams, dry_run
) -> None:
    """Train a recall classifier (DeepSeekMath settings: dim 256, lr 0.1, word n-grams 3, minCount 3, 3 epochs)."""
    cfg = from_dict(
        TrainConfig,
        {
            "iterations": iterations,
            "heldout": heldout,
            "bucket": bucket,
            "epochs": epochs,
            "lr": lr,
            "min_count": min_count,
            "word_ngrams": word_ngrams,
        },  # fmt: skip
        "train_recall",
    )
    if dry_run:
        click.echo(dump_yaml({"positives": list(positives), "negatives": list(negatives), "out": out,
                              "train": cfg}))  # fmt: skip
        return
    metrics = train_recall(_read_texts(positives, "positives"), _read_texts(negatives, "negatives"), out, cfg)
    click.echo(f"{'iteration':>9} {'positives':>9} {'precision':>9} {'recall':>7}")
    for h in metrics["history"]:
        click.echo(f"{h['iteration']:>9} {h['positives']:>9} {h.get('precision', float('nan')):>9.3f} "
                   f"{h.get('recall', float('nan')):>7.3f}")  # fmt: skip
    click.echo(f"model: {metrics['model']} ({metrics['model_bytes'] / 1e6:.1f} MB)")


@click.command("recall-rounds")
@click.option("--domain", required=True, help="The domain this model recalls (math, code, other).")
@click.option(
    "--positives", multiple=True, required=True, help="Seed positives (.jsonl with `text`, or .txt)."
)
@click.option("--negatives", multiple=True, required=True, help="Negatives (same formats).")
@click.option("--corpus", multiple=True, required=True,
              help="Shards (or folders of them) to recall from: JSONL/Parquet with id, text, url.")  # fmt: skip
@click.option(
    "--output",
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder for round_N/, model.bin, rounds.md.",
)
@click.option("--dry-run", is_flag=True, help="Print the resolved config as YAML and exit.")
@click.argument("overrides", nargs=-1)
def recall_rounds_cmd(domain, positives, negatives, corpus, out, dry_run, overrides) -> None:
    """DeepSeekMath-style recall rounds for one domain: train, recall from the rest of the corpus, grow the
    positives by topic hosts, repeat. OVERRIDES: rounds=4 threshold=0.5 domain_share=0.1 train.epochs=3 ..."""
    from infir.config import overrides_to_dict
    from infir.curation.io import find_shards
    from infir.curation.recall_rounds import RoundsConfig, run_rounds

    cfg = from_dict(RoundsConfig, {"domain": domain, **overrides_to_dict(overrides)})
    if dry_run:
        click.echo(dump_yaml(cfg), nl=False)
        return
    try:
        shards = [s.path for s in find_shards(corpus)]
    except FileNotFoundError as exc:
        raise ConfigError("--corpus", str(exc)) from None
    history = run_rounds(
        _read_texts(positives, "positives"), _read_texts(negatives, "negatives"), shards, out, cfg
    )
    click.echo((out / "rounds.md").read_text())
    click.echo(f"model: {out / 'model.bin'} ({len(history)} rounds)")
