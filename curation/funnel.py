"""The funnel report: documents and tokens in/out of every step, and what each drop reason cost.

Written as funnel.json (machine-readable), funnel.md (a table), funnel.png (bar chart of docs and tokens
remaining after each step) and printed as a rich table at the end of a run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infir.curation.base import StepStats


def _minus(n: int) -> str:
    """A removed count as -N; a negative one (tokens a step added) as +N."""
    return f"{-n:+,}" if n else "0"


@dataclass
class FunnelReport:
    pipeline: str
    #: step label -> merged counters, in pipeline order (the reader's malformed lines first, as `read`)
    steps: dict[str, StepStats] = field(default_factory=dict)
    shards: int = 0
    seconds: float = 0.0

    @property
    def docs_in(self) -> int:
        return next(iter(self.steps.values())).docs_in if self.steps else 0

    @property
    def docs_out(self) -> int:
        return list(self.steps.values())[-1].docs_out if self.steps else 0

    @property
    def tokens_in(self) -> int:
        return next(iter(self.steps.values())).tokens_in if self.steps else 0

    @property
    def tokens_out(self) -> int:
        return list(self.steps.values())[-1].tokens_out if self.steps else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "shards": self.shards,
            "seconds": round(self.seconds, 3),
            "docs_in": self.docs_in,
            "docs_out": self.docs_out,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "steps": [{"step": k, **v.to_json()} for k, v in self.steps.items()],
        }

    def rows(self) -> list[tuple[str, str, int, int, int, int]]:
        """(step, reason, docs_in, docs_out/dropped, tokens_in, tokens_out/dropped); reason '' = the step."""
        out = []
        for label, s in self.steps.items():
            out.append((label, "", s.docs_in, s.docs_out, s.tokens_in, s.tokens_out))
            # token-only entries (`lines_removed`: a step rewrote kept text) have no dropped documents
            for reason in sorted(set(s.dropped_docs) | set(s.dropped_tokens)):
                out.append((label, reason, 0, s.dropped_docs[reason], 0, s.dropped_tokens[reason]))
        return out

    def warnings(self) -> list[str]:
        """Steps that removed every document they were given: almost always a wrong threshold or model."""
        return [
            f"WARNING: step {label!r} removed all {s.docs_in:,} documents it was given "
            f"({', '.join(sorted(r for r, n in s.dropped_docs.items() if n)) or 'no reason recorded'}): "
            "check its threshold and model"
            for label, s in self.steps.items()
            if s.docs_in > 0 and s.docs_out == 0
        ]

    def markdown(self) -> str:
        lines = [
            f"# Funnel: {self.pipeline}",
            "",
            f"{self.shards} shards, {self.seconds:.1f} s; docs {self.docs_in:,} -> {self.docs_out:,}, "
            f"tokens {self.tokens_in:,} -> {self.tokens_out:,} (whitespace words)",
            "",
            *[f"**{w}**\n" for w in self.warnings()],
            "| step | reason | docs in | docs out / dropped | tokens in | tokens out / dropped |",
            "| --- | --- | ---: | ---: | ---: | ---: |",
        ]
        for label, reason, di, do, ti, to in self.rows():
            if reason:
                lines.append(f"| | {reason} | | {_minus(do)} | | {_minus(to)} |")
            else:
                lines.append(f"| {label} | | {di:,} | {do:,} | {ti:,} | {to:,} |")
        return "\n".join(lines) + "\n"

    def write(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "funnel.json").write_text(json.dumps(self.to_json(), indent=1) + "\n")
        (folder / "funnel.md").write_text(self.markdown())
        self.plot(folder / "funnel.png")

    def plot(self, path: Path) -> None:
        from infir.plots import pyplot, save

        plt = pyplot()

        labels = ["input", *self.steps]
        docs = [self.docs_in, *(s.docs_out for s in self.steps.values())]
        toks = [self.tokens_in, *(s.tokens_out for s in self.steps.values())]
        fig, axes = plt.subplots(1, 2, figsize=(max(8, 1.1 * len(labels) * 2), 4))
        for ax, values, title in ((axes[0], docs, "documents kept"), (axes[1], toks, "tokens kept")):
            ax.bar(range(len(labels)), values, color="#4477aa")
            ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right", fontsize=8)
            ax.set_title(title)
            for i, v in enumerate(values):
                ax.text(i, v, f"{v:,}", ha="center", va="bottom", fontsize=7)
        fig.suptitle(f"curation funnel: {self.pipeline}")
        save(fig, path, dpi=100)

    def print_table(self) -> None:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"funnel: {self.pipeline} ({self.shards} shards, {self.seconds:.1f} s)")
        for col in ("step", "reason", "docs in", "docs out/dropped", "tokens in", "tokens out/dropped"):
            table.add_column(col, justify="left" if col in ("step", "reason") else "right")
        for label, reason, di, do, ti, to in self.rows():
            if reason:
                table.add_row("", reason, "", f"{_minus(do)}", "", f"{_minus(to)}")
            else:
                table.add_row(label, "", f"{di:,}", f"{do:,}", f"{ti:,}", f"{to:,}")
        console = Console(stderr=True)
        console.width = max(console.width, 120)  # a log file is not an 80-column terminal
        console.print(table)
        for warning in self.warnings():
            console.print(f"[bold red]{warning}[/]")
