"""Run a chain on this machine, without SLURM: what `infir demo` and `infir launch --local` use.

Stages run as subprocesses in chain order; each one's output streams to the terminal (prefixed with the
stage name) and to <run_dir>/<stage>/<stage>.log. A stage that exits 0 gets its done marker; a stage
whose marker exists is skipped; the first failure stops the chain. A summary table ends the run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from infir.launcher.chain import Chain, Stage

Status = Literal["done", "skipped", "failed", "not run"]


@dataclass
class StageResult:
    name: str
    status: Status
    seconds: float = 0.0
    returncode: int | None = None
    log: Path | None = None


class LocalRunner:
    """`LocalRunner(run_dir).run(stages) -> list[StageResult]`."""

    def __init__(
        self,
        run_dir: str | Path,
        env: Mapping[str, str] | None = None,
        stream: bool = True,
        console: Console | None = None,
    ):
        self.run_dir = Path(run_dir)
        self.env = dict(env or {})
        self.stream = stream
        self.console = console or Console(stderr=True)

    def run(self, stages: Iterable[Stage] | Chain) -> list[StageResult]:
        chain = stages if isinstance(stages, Chain) else Chain(stages)
        results: list[StageResult] = []
        ok: set[str] = set()
        rerun: set[str] = set()  # stages run this time: everything after them runs again too
        failed = False
        for stage in chain:
            if failed or any(dep not in ok for dep in stage.after):
                results.append(StageResult(stage.name, "not run"))
                continue
            why = self._why_rerun(stage, rerun)
            if why is None:
                self.console.print(
                    f"[dim]{stage.name}: done marker {stage.marker_path(self.run_dir)} exists, skipped"
                )
                results.append(StageResult(stage.name, "skipped"))
                ok.add(stage.name)
                continue
            if why:
                self.console.print(f"[yellow]{escape(stage.name)}: {escape(why)}: running it again")
                for out in stage.outputs:  # a changed stage starts clean, not from the old run's work
                    path = Path(out) if Path(out).is_absolute() else self.run_dir / out
                    if path.is_dir():
                        shutil.rmtree(path)
                    elif path.exists():
                        path.unlink()
            rerun.add(stage.name)
            result = self._run_one(stage)
            results.append(result)
            if result.status == "done":
                ok.add(stage.name)
            else:
                failed = True
        self.console.print(summary_table(results))
        return results

    def _why_rerun(self, stage: Stage, rerun: set[str]) -> str | None:
        """None: done and unchanged (skip). "": never done. Otherwise why a done stage runs again: its
        command changed since its marker (another setting, another input), or a stage it needs reran."""
        marker = stage.marker_path(self.run_dir)
        if not marker.is_file():
            return ""
        fields = dict(f.split("=", 1) for f in marker.read_text().split() if "=" in f)
        if fields.get("command", command_hash(stage)) != command_hash(stage):
            return "its command changed since it last ran"
        again = [dep for dep in stage.after if dep in rerun]
        return f"{again[0]}, which it needs, ran again" if again else None

    def _run_one(self, stage: Stage) -> StageResult:
        stage_dir = stage.stage_dir(self.run_dir)
        stage_dir.mkdir(parents=True, exist_ok=True)
        log_path = stage_dir / f"{stage.name}.log"
        env = {**os.environ, **self.env, "INFIR_RUN_DIR": str(self.run_dir), "INFIR_STAGE": stage.name}
        self.console.print(f"[bold]{escape(stage.name)}[/]: {escape(' '.join(stage.argv))}")
        start = time.perf_counter()
        with open(log_path, "a", encoding="utf-8") as log:
            try:
                proc = subprocess.Popen(
                    stage.argv,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    env=env,
                    text=True,
                    bufsize=1,
                )
            except OSError as exc:  # command not found: a failed stage, not a crash of the executor
                log.write(f"cannot start {stage.argv[0]!r}: {exc}\n")
                self.console.print(
                    f"[red]{escape(stage.name)}: cannot start {escape(repr(stage.argv[0]))}: {escape(str(exc))}"
                )
                return StageResult(stage.name, "failed", time.perf_counter() - start, None, log_path)
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                if self.stream:
                    sys.stderr.write(f"[{stage.name}] {line}")
            code = proc.wait()
        seconds = time.perf_counter() - start
        if code != 0:
            self.console.print(
                f"[red]{escape(stage.name)} failed with exit code {code}; log: {escape(str(log_path))}"
            )
            return StageResult(stage.name, "failed", seconds, code, log_path)
        marker = stage.marker_path(self.run_dir)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(
            f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {seconds:.1f}s command={command_hash(stage)}\n"
        )
        return StageResult(stage.name, "done", seconds, code, log_path)


def command_hash(stage: Stage) -> str:
    """The stage's resolved command, hashed: a marker remembers what it marks as done."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(stage.argv).encode()).hexdigest()[:16]


def summary_table(results: list[StageResult]) -> Table:
    colours = {"done": "green", "skipped": "cyan", "failed": "red", "not run": "dim"}
    table = Table(title="stages")
    for col in ("stage", "status", "seconds"):
        table.add_column(col, justify="right" if col == "seconds" else "left")
    for r in results:
        secs = f"{r.seconds:.1f}" if r.status in ("done", "failed") else "-"
        table.add_row(r.name, f"[{colours[r.status]}]{r.status}[/]", secs)
    return table
