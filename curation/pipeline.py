"""Run a curation pipeline over shard files: phases, markers, resume, rejects, funnel.

A pipeline is a list of steps. It is cut at every GlobalStep (dedup) into phases: phase 0 runs the steps
before the first GlobalStep; phase k calls that GlobalStep's `fit` once on every shard phase k-1 kept, then
filters shard by shard. Every (phase, shard) ends with a marker written after its files (atomic renames),
so a killed run resumes where it stopped and ends byte-identical to an uninterrupted one.

Output layout: kept/<shard>.jsonl, rejects/<shard>.jsonl (doc + `_step`, `_reason`; malformed lines with
`_source` = file:line), funnel.{json,md,png}, config.yaml (resolved), _state/ (markers, phases, workdirs).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from infir.config import (
    ConfigError,
    deep_merge,
    dump_yaml,
    load_yaml,
    overrides_to_dict,
    resolve,
    resolve_merged,
    to_dict,
)
from infir.curation.base import GlobalStep, Step, StepStats
from infir.curation.funnel import FunnelReport
from infir.curation.io import (
    Shard,
    find_shards,
    read_jsonl,
    read_shard,
    write_jsonl_atomic,
    write_text_atomic,
)
from infir.curation.registry import build_step


@dataclass
class PipelineConfig:
    name: str = "pipeline"
    description: str = ""
    #: step specs `{type: <registered step>, <its Config fields>...}`, applied in order
    steps: list[dict[str, Any]] = field(default_factory=list)
    #: input field holding the document text / id (renamed to `text` / `id` inside the pipeline);
    #: text_field "" reads rows without text (APPS/CodeContests problems) for a step that builds it
    text_field: str = "text"
    id_field: str = "id"
    #: documents per filter_batch call
    batch_size: int = field(default=1000, metadata={"ge": 1})
    #: `local`: in-process, shard by shard; `ray`: NeMo Curator stages on the Ray Data backend
    executor: Literal["local", "ray"] = "local"
    #: Ray cluster address (`auto`, `ray://host:10001`); empty starts a local Ray with `num_cpus`
    ray_address: str = ""
    num_cpus: int = field(default=2, metadata={"ge": 1})
    #: local executor: processes, each owning whole shards (curation/executors/pool.py); 1 = in-process
    workers: int = field(default=1, metadata={"ge": 1})
    #: decontamination index (.npz) given to every `decontaminate` step that sets no `index`
    decontam_index: str = ""
    #: fastText model given to every `recall` / `quality_score` step that sets no `model` (overrides
    #: cannot reach into the `steps` list, so site-specific paths are set here: recall_model=PATH)
    recall_model: str = ""
    #: per-domain recall models for every `recall` step that sets neither `model` nor `models`:
    #: recall_models.math=PATH recall_models.code=PATH recall_models.other=PATH (used before recall_model)
    recall_models: dict[str, str] = field(default_factory=dict)
    quality_model: str = ""
    #: synthesis pipelines (conf/synth/): generation and reward engines by name, `engines.<name>.<field>`
    #: (infir/synth/engines.py EngineConfig); steps name theirs with `engine: <name>`
    engines: dict[str, dict[str, Any]] = field(default_factory=dict)

    def validate(self) -> None:
        if self.engines:  # strict and complete (a dry run shows every engine setting), used by a step or not
            from infir.config import from_dict
            from infir.synth.engines import EngineConfig

            self.engines = {
                n: to_dict(from_dict(EngineConfig, e, f"engines.{n}")) for n, e in self.engines.items()
            }
        build_steps(self)  # every step spec is checked strictly, naming steps[i].field


#: step type -> (its path field, the PipelineConfig field that fills it when the step leaves it empty)
PATH_DEFAULTS = {
    "decontaminate": ("index", "decontam_index"),
    "recall": ("model", "recall_model"),
    "quality_score": ("model", "quality_model"),
}


def build_steps(cfg: PipelineConfig) -> list[tuple[str, Step]]:
    """(label, step) in order; a type used twice gets labels `type`, `type#2`."""
    out: list[tuple[str, Step]] = []
    seen: dict[str, int] = {}
    for i, spec in enumerate(cfg.steps):
        spec = dict(spec) if isinstance(spec, dict) else spec
        if isinstance(spec, dict) and spec.get("type") in PATH_DEFAULTS:
            key, default = PATH_DEFAULTS[spec["type"]]
            if (
                spec["type"] == "recall"
                and not spec.get("model")
                and not spec.get("models")
                and cfg.recall_models
            ):
                spec["models"] = dict(cfg.recall_models)
            elif not spec.get(key) and not spec.get("models"):
                spec[key] = getattr(cfg, default)
        step = build_step(spec, f"steps[{i}]")
        # a synthesis step resolves its engine now, so a bad one fails before any work
        if hasattr(step, "bind"):
            step.bind(cfg.engines, f"steps[{i}]")
        seen[step.name] = seen.get(step.name, 0) + 1
        out.append((step.name if seen[step.name] == 1 else f"{step.name}#{seen[step.name]}", step))
    return out


def missing_paths(
    config_or_path: str | Path, overrides: Sequence[str] = (), kind: str = "curation"
) -> list[str]:
    """The PipelineConfig path fields (decontam_index, recall_model, quality_model, engines.<name>.model) a
    step needs and nothing sets yet: a dry run names them instead of failing on them (run-time inputs)."""
    from infir.paths import conf_file

    path = conf_file(kind, str(config_or_path))
    data = deep_merge(load_yaml(path), overrides_to_dict(overrides))
    engines = data.get("engines") or {}
    missing = [f"engines.{n}.model" for n, e in engines.items() if isinstance(e, dict) and not e.get("model")]
    for spec in data.get("steps") or []:
        if isinstance(spec, dict) and spec.get("type") in PATH_DEFAULTS:
            key, default = PATH_DEFAULTS[spec["type"]]
            given = spec.get(key) or spec.get("models") or data.get(default)
            if spec.get("type") == "recall":
                given = given or data.get("recall_models")
            if not given and default not in missing:
                missing.append(default)
    return missing


def load_config(
    config_or_path: PipelineConfig | str | Path, overrides: Sequence[str] = (), kind: str = "curation"
) -> PipelineConfig:
    """A config instance, a YAML path, or a name under conf/<kind>/ (curation, synth) -> PipelineConfig."""
    if isinstance(config_or_path, PipelineConfig):
        return resolve(config_or_path, [], overrides) if overrides else config_or_path
    from infir.paths import conf_file

    path = conf_file(kind, str(config_or_path))
    # one strict build after merging: a YAML may leave a required value (decontam_index) to the command line
    return resolve_merged(PipelineConfig, [path], overrides, base=to_dict(PipelineConfig(name=path.stem)))


@dataclass
class ShardResult:
    """What one phase did to one shard. `rejects` are annotated docs in input order."""

    name: str
    kept: list[dict[str, Any]]
    rejects: list[dict[str, Any]]
    stats: dict[str, StepStats]


#: a shard's input records for a phase: (position, doc or None, malformed reject or None)
Records = Iterable[tuple[dict | None, dict | None]]


@dataclass
class Phase:
    index: int
    steps: list[tuple[str, Step]]

    @property
    def global_step(self) -> tuple[str, GlobalStep] | None:
        label, step = self.steps[0] if self.steps else ("", None)
        return (label, step) if is_global(step) else None


def is_global(step: Step | None) -> bool:
    return isinstance(step, GlobalStep) and step.is_global()


def split_phases(steps: list[tuple[str, Step]]) -> list[Phase]:
    phases = [Phase(0, [])]
    for label, step in steps:
        if is_global(step):
            phases.append(Phase(len(phases), []))
        phases[-1].steps.append((label, step))
    return phases


class Layout:
    def __init__(self, output: Path, n_phases: int):
        self.output, self.state, self.last = output, output / "_state", n_phases - 1

    def kept(self, phase: int, shard: str) -> Path:
        if phase == self.last:
            return self.output / "kept" / f"{shard}.jsonl"
        return self.state / f"phase{phase}" / "kept" / f"{shard}.jsonl"

    def rejects(self, phase: int, shard: str) -> Path:
        return self.state / f"phase{phase}" / "rejects" / f"{shard}.jsonl"

    def marker(self, phase: int, shard: str) -> Path:
        return self.state / f"phase{phase}" / "done" / f"{shard}.json"


def _records(layout: Layout, phase: int, shard: Shard, cfg: PipelineConfig) -> Iterator:
    if phase == 0:
        return read_shard(shard, cfg.text_field, cfg.id_field)
    return ((doc, None) for doc in read_jsonl(layout.kept(phase - 1, shard.name)))


def _finish_shard(layout: Layout, phase: Phase, res: ShardResult) -> None:
    write_jsonl_atomic(layout.kept(phase.index, res.name), res.kept)
    write_jsonl_atomic(layout.rejects(phase.index, res.name), res.rejects)
    if phase.index == layout.last:  # the user-facing rejects file: every phase's rejects, in phase order
        all_rejects = (d for p in range(layout.last + 1) for d in read_jsonl(layout.rejects(p, res.name)))
        write_jsonl_atomic(layout.output / "rejects" / f"{res.name}.jsonl", all_rejects)
    stats = {k: v.to_json() for k, v in res.stats.items()}
    write_text_atomic(layout.marker(phase.index, res.name), json.dumps(stats, sort_keys=True))


#: where a run executes, not what it computes: a resume may change these (the output is the same)
EXECUTION_FIELDS = ("executor", "ray_address", "num_cpus", "workers")


def _check_resume(output: Path, cfg: PipelineConfig) -> None:
    what = dataclasses.replace(cfg, **{f: getattr(PipelineConfig(), f) for f in EXECUTION_FIELDS})
    saved, text = output / "config.yaml", dump_yaml(what)
    if saved.is_file() and (output / "_state").is_dir() and saved.read_text() != text:
        raise ConfigError(
            str(saved),
            "the output folder holds a run with a different config; resume needs the same config "
            "(use another --output or delete the folder)",
        )
    write_text_atomic(saved, text)


def run_pipeline(
    config_or_path: PipelineConfig | str | Path,
    inputs: Sequence[Path | str] | Path | str,
    output: Path | str,
    executor: Literal["local", "ray"] | None = None,
    overrides: Sequence[str] = (),
    quiet: bool = False,
) -> FunnelReport:
    """Curate `inputs` (shard files or folders of them) into `output`; resumes an interrupted run."""
    cfg = load_config(config_or_path, overrides)
    if executor is not None:
        cfg = resolve(cfg, [{"executor": executor}])
    inputs = [inputs] if isinstance(inputs, str | Path) else list(inputs)
    shards = find_shards(inputs)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    _check_resume(output, cfg)
    phases = split_phases(build_steps(cfg))
    layout = Layout(output, len(phases))
    t0 = time.perf_counter()
    if cfg.executor == "ray":
        from infir.curation.executors.nemo import NemoCuratorExecutor

        runner = NemoCuratorExecutor(cfg)
    else:
        from infir.curation.executors.local import LocalExecutor

        runner = LocalExecutor(cfg, quiet=quiet)
    try:
        for phase in phases:
            todo = [s for s in shards if not layout.marker(phase.index, s.name).is_file()]
            if todo:
                _run_phase(cfg, runner, layout, phase, shards, todo, quiet)
    finally:
        runner.close()
    report = collect_report(cfg.name, layout, phases, shards)
    report.seconds = time.perf_counter() - t0
    report.write(output)
    if not quiet:
        report.print_table()
    return report


def _run_phase(cfg: PipelineConfig, runner: Any, layout: Layout, phase: Phase, shards: list[Shard],
               todo: list[Shard], quiet: bool) -> None:  # fmt: skip
    """One phase over its pending shards: the global step's fit first (it sees every shard the previous
    phase kept, once, and resumes its own work), then the per-shard steps on the chosen executor."""
    g = phase.global_step
    if g is not None:
        from infir.curation.executors.fanout import FanOut

        label, step = g
        opens = {s.name: (lambda p=layout.kept(phase.index - 1, s.name): read_jsonl(p)) for s in shards}
        if cfg.executor == "ray":  # the fit's shard and partition tasks go to the Ray cluster too
            runner._ensure_ray()
            step.fanout = FanOut(ray=True)
        else:
            step.fanout = FanOut(workers=cfg.workers)
        step.source_order = list(dict.fromkeys(s.label for s in shards if s.label)) or None
        step.fit(opens, layout.state / "global" / label)
    if cfg.executor == "ray":  # workers own the shards; the driver sees counters only
        runner.run_shards(layout, phase, todo, quiet)
    elif cfg.workers > 1 and len(todo) > 1:
        from infir.curation.executors import pool

        pool.run_phase(layout, phase, cfg, todo, cfg.workers, quiet)
    else:
        inputs = [(s.name, _records(layout, phase.index, s, cfg)) for s in todo]
        for res in runner.run_phase(phase.steps, inputs, first=phase.index == 0):
            _finish_shard(layout, phase, res)


def collect_report(name: str, layout: Layout, phases: list[Phase], shards: list[Shard]) -> FunnelReport:
    labels = ["read"] + [label for p in phases for label, _ in p.steps]
    merged = {label: StepStats() for label in labels}
    for phase in phases:
        for s in shards:
            for label, data in json.loads(layout.marker(phase.index, s.name).read_text()).items():
                merged[label].merge(StepStats.from_json(data))
    return FunnelReport(name, merged, shards=len(shards))
