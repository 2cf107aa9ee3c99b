"""The reward-score part of a synthesis run's report: a histogram of every scored candidate, the chosen
(best-of-N) scores of kept and rejected samples, the threshold; a table appended to funnel.md."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from infir.jsonl import iter_jsonl

SECTION = "\n## Reward scores\n"


def _scores(folder: Path) -> tuple[list[float], list[float]]:
    cands, chosen = [], []
    for f in sorted(folder.glob("*.jsonl")):
        for _, rec in iter_jsonl(f):
            if isinstance(rec, dict) and "reward" in rec:
                chosen.append(float(rec["reward"]))
                cands += [float(x) for x in rec.get("candidate_rewards", [])]
    return cands, chosen


def reward_report(output: str | Path, threshold: float | None = None) -> dict | None:
    """Plot and summarise the reward scores under `output` (None when no step scored anything), with the
    best_of_n step's `min_score` as a line."""
    output = Path(output)
    cands, kept = _scores(output / "kept")
    rej_cands, rejected = _scores(output / "rejects")
    if not kept and not rejected:
        return None
    summary = {"candidates": len(cands) + len(rej_cands), "kept": len(kept), "rejected_low": len(rejected),
               "threshold": threshold}  # fmt: skip
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    every = cands + rej_cands
    bins = np.histogram_bin_edges(every or kept + rejected, bins=20)
    ax.hist(every, bins=bins, alpha=0.4, label=f"all candidates ({len(every)})")
    ax.hist(kept, bins=bins, alpha=0.7, label=f"best-of-N, kept ({len(kept)})")
    if rejected:
        ax.hist(rejected, bins=bins, alpha=0.7, label=f"best-of-N, below threshold ({len(rejected)})")
    if threshold is not None:
        ax.axvline(threshold, color="black", linestyle="--", linewidth=1, label=f"min_score {threshold:g}")
    ax.set_xlabel("reward score")
    ax.set_ylabel("samples")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(output / "rewards.png", dpi=120)
    plt.close(fig)
    rows = ["| set | n | min | median | max |", "| --- | ---: | ---: | ---: | ---: |"]
    for name, xs in (("all candidates", every), ("kept (best of N)", kept), ("below threshold", rejected)):
        if xs:
            rows.append(
                f"| {name} | {len(xs)} | {min(xs):.3f} | {float(np.median(xs)):.3f} | {max(xs):.3f} |"
            )
    funnel = output / "funnel.md"
    text = funnel.read_text() if funnel.is_file() else ""
    text = (
        text.split(SECTION)[0].rstrip("\n")
        + "\n"
        + SECTION
        + "\n"
        + "\n".join(rows)
        + "\n\n![rewards](rewards.png)\n"
    )
    funnel.write_text(text)
    (output / "rewards.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary
