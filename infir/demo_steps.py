"""Glue stages of `infir demo` that are not stages of a real run: the toy tokenizer and the report.

Run as `python -m infir.demo_steps train-tokenizer ...` / `... report RUN` (the demo's chain does).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import typer

from infir.cli_app import typer_app

app = typer_app(help=__doc__)


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
    out: Path = typer.Option(..., "--output", "--out"),
    vocab_size: int = typer.Option(4096, "--vocab-size"),
) -> None:
    """Train the demo's byte-level BPE tokenizer (Llama 3 special tokens and chat template) on curated text."""
    from infir.data.tokenizer import train_bpe

    typer.echo(f"tokenizer -> {train_bpe(iter_texts(inputs), vocab_size, out)}")


@app.command("toy-reward")
def toy_reward(
    base: Path = typer.Option(..., "--base", help="a causal LM checkpoint (HF folder)"),
    out: Path = typer.Option(..., "--output", "--out"),
) -> None:
    """A reward model for the demo's synthesis: the base LM with a seeded, untrained scalar head."""
    from infir.synth.toy import make_toy_reward

    typer.echo(f"reward model -> {make_toy_reward(base, out)}")


def _read_metrics(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _smooth(values: list[float], window: int) -> list[float]:
    """Trailing moving average (the raw per-step loss of a tiny batch is mostly noise)."""
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v - (values[i - window] if i >= window else 0.0)
        out.append(acc / min(i + 1, window))
    return out


def _val_nll(run: Path, stage: str) -> float | None:
    res = run / "eval" / stage / "web_nll.json"
    if not res.exists():
        return None
    data = json.loads(res.read_text())
    return float(data.get("metrics", data)["nll_per_token"])


def _plot_losses(run: Path, out: Path, vocab: int | None) -> None:
    import math

    from infir.plots import pyplot, save

    plt = pyplot()

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
    for ax, stage in zip(axes, ("pretrain", "anneal", "sft")):
        rows = _read_metrics(run / stage / "metrics.jsonl")
        steps, loss = [r["step"] for r in rows], [r["loss"] for r in rows]
        window = max(1, len(loss) // 20)
        ax.plot(steps, loss, lw=0.6, alpha=0.35, color="#4477aa", label="training loss (per step)")
        ax.plot(
            steps, _smooth(loss, window), lw=1.6, color="#4477aa", label=f"training loss ({window}-step mean)"
        )
        val = _val_nll(run, stage)
        if val is not None:
            ax.axhline(
                val, color="#cc6677", ls="--", lw=1.2, label=f"validation NLL after {stage}: {val:.3f}"
            )
        if vocab:
            ax.axhline(
                math.log(vocab),
                color="gray",
                ls=":",
                lw=1,
                label=f"uniform model: ln {vocab} = {math.log(vocab):.2f}",
            )
        ax.set_title(f"{stage}")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("cross-entropy (nats per BPE token)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    save(fig, out)


def _nested(markdown: str) -> str:
    """A funnel.md placed under one of the report's `###` headings: its `#` becomes `####`, its `##` `###`."""
    return "\n".join("#### " + ln[2:] if ln.startswith("# ") else "#" + ln if ln.startswith("## ") else ln
                     for ln in markdown.splitlines())  # fmt: skip


def write_report(run: Path) -> Path:
    """report.md: curation funnels, loss curves (PNG), and the validation-NLL table."""
    run = Path(run)
    lines = ["# infir demo report", "", f"Run folder: `{run}`", ""]
    lines += ["## Curation funnel", ""]
    for domain in ("web", "code", "math"):
        funnel = run / "curated" / domain / "funnel.md"
        text = funnel.read_text().strip() if funnel.exists() else "(missing)"
        text = _nested(text)  # the funnel's own "# Funnel" heading sits under this report's "### domain"
        lines += [f"### {domain}", "", text, ""]
        if (run / "curated" / domain / "funnel.png").exists():
            lines += [f"![{domain} funnel](curated/{domain}/funnel.png)", ""]
    counts = run / "tokens" / "token_counts.json"
    if counts.exists():
        lines += ["## BPE tokens per source", "", "(The funnels above count whitespace-separated words; from here on a",
                  "token is a BPE token of the demo's tokenizer.)", "", "| source | BPE tokens |", "| --- | ---: |"]  # fmt: skip
        for source, n in sorted(json.loads(counts.read_text()).items()):
            value = n["tokens"] if isinstance(n, dict) else n
            lines.append(f"| {source} | {value:,} |")
        lines.append("")
    vocab = None
    tok = run / "tokenizer" / "tokenizer.json"
    if tok.exists():
        vocab = len(json.loads(tok.read_text())["model"]["vocab"])
    _plot_losses(run, run / "loss_curves.png", vocab)
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
    lines += ["", "## Evaluation: validation NLL per BPE token (lower is better)", ""]
    lines += ["The validation set is data/demo/valid without the 20% of documents the pretrained model scores",
              "worst (highest NLL per token: mostly meaningless text; `infir eval build-valset`, the paper's rule);",
              "the same documents score every checkpoint.", ""]  # fmt: skip
    lines += ["| checkpoint | NLL/token | BPE tokens | docs |", "| --- | ---: | ---: | ---: |"]
    for stage in ("pretrain", "anneal", "sft"):
        res = run / "eval" / stage / "web_nll.json"
        if res.exists():
            data = json.loads(res.read_text())
            m = data.get("metrics", data)
            lines.append(
                f"| {stage} | {m['nll_per_token']:.4f} | {int(m.get('tokens', 0)):,} | {int(m.get('docs', 0)):,} |"
            )
    lines += _raw_vs_curated(run)
    lines += _synth(run)
    out = run / "report.md"
    out.write_text("\n".join(lines) + "\n")
    return out


def _raw_vs_curated(run: Path) -> list[str]:
    """The paper's check of curation: the same anneal on curated vs raw data at equal tokens, same valset."""
    from infir.compare_data import comparison_lines

    table = comparison_lines(run, {"curated": "anneal", "raw": "anneal-raw"})
    if not table:
        return []
    return [
        "", "## Raw vs curated data (continued pretraining at equal tokens)", "",
        "The anneal, run twice from the same pretrained checkpoint for the same steps, batch and sequence",
        "length (so the same number of BPE tokens): once on the curated mixture, once on the raw corpus",
        "(only malformed records removed) tokenized and mixed the same way; both scored on the validation",
        "set above (lower is better) and few-shot on the real MMLU items lm-eval ships (per subject).", "",
        *table, "",
        "At toy scale (a few thousand documents, tens of steps) the sign of this gap is noise and MMLU sits",
        "at chance (0.25): the section shows the comparison wired end to end; run it at scale for the answer.",
    ]  # fmt: skip


def _synth(run: Path) -> list[str]:
    """The synthesis funnel (conf/synth/demo.yaml) with its reward-score table and plot."""
    funnel = run / "synth" / "out" / "funnel.md"
    if not funnel.exists():
        return []
    text = (
        _nested(funnel.read_text().strip())
        .replace("](rewards.png)", "](synth/out/rewards.png)")
        .replace("](funnel.png)", "](synth/out/funnel.png)")
    )
    return [
        "", "## Synthetic SFT data", "",
        "The SFT checkpoint answers 32 seed prompts twice (sampled); a toy reward model (the same checkpoint with",
        "an untrained scalar head: deterministic scores, no judgement) keeps the better answer and drops those",
        "scoring below 0.25. The plumbing is the real one (`infir synth`, conf/synth/demo.yaml); the quality is not.",
        "", text,
    ]  # fmt: skip


@app.command("report")
def report(run: Path = typer.Argument(..., help="the demo's run folder")) -> None:
    """Write report.md (funnel, loss curves PNG, eval table) for a finished demo run."""
    typer.echo(f"report -> {write_report(run)}")


if __name__ == "__main__":
    app()
