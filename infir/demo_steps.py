"""Glue stages of `infir demo` that are not stages of a real run: the toy tokenizer and the report.

Run as `python -m infir.demo_steps train-tokenizer ...` / `... report RUN` (the demo's chain does).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import typer

app = typer.Typer(add_completion=False, help=__doc__)


def iter_texts(inputs: list[Path]) -> Iterator[str]:
    """The `text` field of every JSONL record under the given files/folders, in a stable order."""
    files: list[Path] = []
    for p in inputs:
        files += sorted(p.glob("*.jsonl")) if p.is_dir() else [p]
    for f in files:
        with open(f) as fh:
            for line in fh:
                yield json.loads(line)["text"]


@app.command("train-tokenizer")
def train_tokenizer(
    inputs: list[Path] = typer.Argument(..., help="folders or JSONL files of curated documents"),
    out: Path = typer.Option(..., "--out"),
    vocab_size: int = typer.Option(4096, "--vocab-size"),
) -> None:
    """Train the demo's byte-level BPE tokenizer (Llama 3 special tokens and chat template) on curated text."""
    from infir.data.tokenizer import train_bpe

    typer.echo(f"tokenizer -> {train_bpe(iter_texts(inputs), vocab_size, out)}")


def _read_metrics(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _plot_losses(run: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, stage in zip(axes, ("pretrain", "anneal", "sft")):
        rows = _read_metrics(run / stage / "metrics.jsonl")
        ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], lw=1.2)
        ax.set_title(f"{stage}: training loss")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("cross-entropy (nats/token)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def write_report(run: Path) -> Path:
    """report.md: curation funnels, loss curves (PNG), and the validation-NLL table."""
    run = Path(run)
    lines = ["# infir demo report", "", f"Run folder: `{run}`", ""]
    lines += ["## Curation funnel", ""]
    for domain in ("web", "code", "math"):
        funnel = run / "curated" / domain / "funnel.md"
        lines += [f"### {domain}", "", funnel.read_text().strip() if funnel.exists() else "(missing)", ""]
        if (run / "curated" / domain / "funnel.png").exists():
            lines += [f"![{domain} funnel](curated/{domain}/funnel.png)", ""]
    counts = run / "tokens" / "token_counts.json"
    if counts.exists():
        lines += ["## Tokens per source", "", "| source | tokens |", "| --- | ---: |"]
        for source, n in sorted(json.loads(counts.read_text()).items()):
            value = n["tokens"] if isinstance(n, dict) else n
            lines.append(f"| {source} | {value:,} |")
        lines.append("")
    _plot_losses(run, run / "loss_curves.png")
    lines += [
        "## Training",
        "",
        "![loss curves](loss_curves.png)",
        "",
        "| stage | steps | first loss | last loss |",
    ]
    lines.append("| --- | ---: | ---: | ---: |")
    for stage in ("pretrain", "anneal", "sft"):
        rows = _read_metrics(run / stage / "metrics.jsonl")
        if rows:
            lines.append(f"| {stage} | {rows[-1]['step']} | {rows[0]['loss']:.3f} | {rows[-1]['loss']:.3f} |")
    lines += ["", "## Evaluation: validation NLL per token (lower is better)", ""]
    lines += ["| checkpoint | NLL/token | tokens | docs |", "| --- | ---: | ---: | ---: |"]
    for stage in ("pretrain", "anneal", "sft"):
        res = run / "eval" / stage / "web_nll.json"
        if res.exists():
            data = json.loads(res.read_text())
            m = data.get("metrics", data)
            lines.append(
                f"| {stage} | {m['nll_per_token']:.4f} | {m.get('tokens', '')} | {m.get('docs', '')} |"
            )
    out = run / "report.md"
    out.write_text("\n".join(lines) + "\n")
    return out


@app.command("report")
def report(run: Path = typer.Argument(..., help="the demo's run folder")) -> None:
    """Write report.md (funnel, loss curves PNG, eval table) for a finished demo run."""
    typer.echo(f"report -> {write_report(run)}")


if __name__ == "__main__":
    app()
