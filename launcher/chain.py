"""Stages and chains: what runs, in which order, and how a finished stage is recognised.

A `Stage` is one `infir ...` command with its resources and dependencies. A `Chain` orders stages so
every stage runs after the ones it names in `after`; the same chain goes to the local executor
(local.py) or to SLURM as afterok-linked jobs (slurm.py). A stage that wrote its done marker is
skipped, so re-submitting a half-finished pipeline only runs what is left.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infir.config import ConfigError, fail, from_dict, load_yaml


def infir_argv(*args: str) -> list[str]:
    """argv running `infir ARGS` with this interpreter: no need for the venv's bin on PATH."""
    import sys

    return [sys.executable, "-m", "infir.cli", *args]


@dataclass
class Resources:
    """Per-stage shape; None takes the cluster profile's value. gpus_per_node=0 means a CPU job."""

    nodes: int | None = field(default=None, metadata={"ge": 1})
    gpus_per_node: int | None = field(default=None, metadata={"ge": 0})
    cpus_per_task: int | None = field(default=None, metadata={"ge": 1})
    mem: str | None = None
    time: str | None = None


@dataclass
class Stage:
    name: str
    argv: list[str]
    resources: Resources = field(default_factory=Resources)
    after: list[str] = field(default_factory=list)
    # Relative paths are under the run directory; default <run_dir>/<name>/DONE.
    done_marker: str | None = None
    #: what this stage writes (files or folders): when a done stage must run again because its command or
    #: a stage before it changed, these are cleared first, so it starts clean instead of resuming old work
    outputs: list[str] = field(default_factory=list)

    def validate(self) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            fail("name", f"stage names are letters, digits, - and _, got {self.name!r}")
        if not self.argv:
            fail("argv", "a stage needs a command")

    def stage_dir(self, run_dir: str | Path) -> Path:
        return Path(run_dir) / self.name

    def marker_path(self, run_dir: str | Path) -> Path:
        if self.done_marker is None:
            return self.stage_dir(run_dir) / "DONE"
        path = Path(self.done_marker)
        return path if path.is_absolute() else Path(run_dir) / path

    def is_done(self, run_dir: str | Path) -> bool:
        return self.marker_path(run_dir).is_file()


@dataclass
class ChainConfig:
    """conf/pipelines/*.yaml: `vars` fill `{name}` placeholders in argv; `{run_dir}` is always set."""

    name: str
    stages: list[Stage]
    vars: dict[str, str] = field(default_factory=dict)


class Chain:
    """Stages in dependency order (a stage only names stages before it in `after`)."""

    def __init__(self, stages: Iterable[Stage], name: str = "chain"):
        self.name = name
        self.stages: list[Stage] = []
        seen: set[str] = set()
        for i, stage in enumerate(stages):
            if stage.name in seen:
                raise ConfigError(f"stages[{i}].name", f"duplicate stage {stage.name!r}")
            for dep in stage.after:
                if dep not in seen:
                    raise ConfigError(
                        f"stages[{i}].after",
                        f"{stage.name!r} runs after {dep!r}, which is not an earlier stage; earlier: {sorted(seen)}",
                    )
            seen.add(stage.name)
            self.stages.append(stage)

    def __iter__(self):
        return iter(self.stages)

    def __len__(self) -> int:
        return len(self.stages)

    def names(self) -> list[str]:
        return [s.name for s in self.stages]

    def get(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise ConfigError("stage", f"unknown stage {name!r}; this pipeline has {self.names()}")

    def only(self, names: Iterable[str]) -> Chain:
        """A sub-chain of the named stages; dependencies on stages left out are dropped."""
        keep = [self.get(n).name for n in names]
        picked = [
            dataclasses.replace(s, after=[d for d in s.after if d in keep])
            for s in self.stages
            if s.name in keep
        ]
        return Chain(picked, self.name)


def _fill(text: str, values: dict[str, Any], where: str) -> str:
    try:
        return text.format(**values)
    except KeyError as exc:
        raise ConfigError(where, f"unknown placeholder {{{exc.args[0]}}}; known: {sorted(values)}") from None


def load_pipeline(
    path: str | Path, run_dir: str | Path, vars_overrides: dict[str, str] | None = None
) -> Chain:
    """Read a pipeline YAML and fill its argv templates for `run_dir`."""
    data = load_yaml(path)
    try:
        cfg = from_dict(ChainConfig, data)
    except ConfigError as exc:
        raise ConfigError(exc.path, f"{exc.message} (in {path})") from None
    unknown = sorted(set(vars_overrides or {}) - set(cfg.vars))
    if unknown:  # a misspelt site path would otherwise be silently ignored
        raise ConfigError("vars", f"{path} has no vars {unknown}; it has {sorted(cfg.vars)}")
    values = {**cfg.vars, **(vars_overrides or {}), "run_dir": str(run_dir)}
    stages = []
    for i, stage in enumerate(cfg.stages):
        argv = [_fill(a, values, f"{path}: stages[{i}].argv") for a in stage.argv]
        marker = (
            _fill(stage.done_marker, values, f"{path}: stages[{i}].done_marker")
            if stage.done_marker
            else None
        )
        stages.append(dataclasses.replace(stage, argv=argv, done_marker=marker))
    return Chain(stages, cfg.name)
