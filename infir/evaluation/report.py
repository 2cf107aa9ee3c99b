"""Results per checkpoint (JSON + markdown table) and `compare`: metrics across checkpoints as a PNG."""

from __future__ import annotations

import json
import math
from pathlib import Path

#: Scalar metrics worth a table column / a plot panel, in display order.
HEADLINE = (
    "nll_per_token",
    "perplexity",
    "answer_nll_per_token",
    "choice_nll",
    "accuracy",
    "pass@1",
    "exact_match",
    "click_accuracy",
)


def scalars(result: dict) -> dict[str, float]:
    """The numeric top-level entries of a suite result (per-item lists and dicts left out)."""
    return {
        k: float(v)
        for k, v in result.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))
    }


def write_results(out_dir: str | Path, suite: str, model_path: str, result: dict) -> Path:
    """Write `<out_dir>/<suite>.json` (everything) and `<out_dir>/<suite>.md` (a table); return the JSON path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = {"suite": suite, "model": str(model_path), "metrics": scalars(result), "result": result}
    path = out_dir / f"{suite}.json"
    path.write_text(json.dumps(doc, indent=2, default=str))
    (out_dir / f"{suite}.md").write_text(markdown_table(suite, str(model_path), doc["metrics"]))
    return path


def markdown_table(suite: str, model: str, metrics: dict[str, float]) -> str:
    rows = [f"# {suite} on {model}", "", "| metric | value |", "| --- | --- |"]
    rows += [f"| {k} | {v:.4f} |" for k, v in metrics.items()]
    return "\n".join(rows) + "\n"


def load_results(result_dir: str | Path) -> dict[str, dict[str, float]]:
    """{suite: metrics} from every suite JSON in one checkpoint's results folder."""
    out = {}
    for f in sorted(Path(result_dir).glob("*.json")):
        doc = json.loads(f.read_text())
        if isinstance(doc, dict) and "metrics" in doc and "suite" in doc:
            out[doc["suite"]] = doc["metrics"]
    if not out:
        raise FileNotFoundError(f"{result_dir}: no suite result JSON found (run `infir eval <suite>` first)")
    return out


def compare(result_dirs: list[str | Path], out_png: str | Path, labels: list[str] | None = None) -> dict:
    """Plot each headline metric across checkpoints (one panel per suite/metric) and write a table beside it.

    The x axis is the checkpoints in the order given (e.g. one per data mixture, or per training step);
    this is how a user picks a mixture: lower NLL, higher accuracy / pass@1.
    """
    from infir.plots import pyplot, save

    plt = pyplot()

    labels = labels or [Path(d).name for d in result_dirs]
    runs = [load_results(d) for d in result_dirs]
    keys = sorted(
        {(s, m) for r in runs for s, ms in r.items() for m in ms if m in HEADLINE},
        key=lambda sm: (sm[0], HEADLINE.index(sm[1])),
    )
    if not keys:
        raise ValueError("no headline metric found in the given result folders")
    table = {f"{s}/{m}": [r.get(s, {}).get(m) for r in runs] for s, m in keys}
    cols = min(3, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, (name, values) in zip(axes.flat, table.items()):
        xs = [i for i, v in enumerate(values) if v is not None]
        ax.plot(xs, [values[i] for i in xs], marker="o")
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    out_png = save(fig, out_png)
    md = ["| metric | " + " | ".join(labels) + " |", "| --- |" + " --- |" * len(labels)]
    md += [
        f"| {k} | " + " | ".join("-" if v is None else f"{v:.4f}" for v in vs) + " |"
        for k, vs in table.items()
    ]
    out_png.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return {"png": str(out_png), "labels": labels, "metrics": table}
