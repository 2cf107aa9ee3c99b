"""The paper's reported numbers (conf/paper/infir_tables.yaml) beside ours: `infir eval compare --paper`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infir.config import ConfigError, load_yaml
from infir.paths import CONF_DIR

TABLES = CONF_DIR / "paper" / "infir_tables.yaml"


def tables(path: Path = TABLES) -> dict[str, dict[str, Any]]:
    return load_yaml(path)["tables"]


def side_by_side(table: str, result_dir: str | Path, path: Path = TABLES) -> list[dict[str, Any]]:
    """One row per benchmark of `table`: paper, ours (from result_dir's suite JSONs) and ours - paper."""
    from infir.evaluation.report import load_results

    known = tables(path)
    if table not in known:
        raise ConfigError("--paper", f"unknown table {table!r}; known: {sorted(known)}")
    ours = load_results(result_dir)
    rows = []
    for bench, spec in known[table]["results"].items():
        suite, metric = spec.get("suite"), spec["metric"]
        value = ours.get(suite, {}).get(metric) if suite else None
        status = "no suite" if suite is None else ("not run" if value is None else "")
        rows.append({"benchmark": bench, "paper": spec["paper"], "ours": value, "suite": suite,
                     "delta": None if value is None else value - spec["paper"], "status": status})  # fmt: skip
    return rows


def markdown(table: str, rows: list[dict[str, Any]], model: str) -> str:
    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.2f}"

    out = [f"## {table}: {model}", "", "| benchmark | paper | ours | ours - paper | suite |",
           "| --- | ---: | ---: | ---: | --- |"]  # fmt: skip
    for r in rows:
        delta = "-" if r["delta"] is None else f"{100 * r['delta']:+.2f}"
        where = " ".join(x for x in (r["suite"], r["status"] and f"({r['status']})") if x)
        out.append(f"| {r['benchmark']} | {pct(r['paper'])} | {pct(r['ours'])} | {delta} | {where} |")
    return "\n".join(out) + "\n"


def plot(table: str, rows: list[dict[str, Any]], out_png: str | Path) -> Path:
    from infir.plots import pyplot, save

    plt = pyplot()
    import numpy as np

    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(1.2 * len(rows) + 2, 3.4))
    ax.bar(x - 0.2, [100 * r["paper"] for r in rows], 0.4, label="paper")
    ax.bar(x + 0.2, [100 * (r["ours"] or 0) for r in rows], 0.4, label="ours (0 = not run)")
    ax.set_xticks(x, [r["benchmark"] for r in rows], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("score (%)")
    ax.set_title(table, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return save(fig, out_png)
