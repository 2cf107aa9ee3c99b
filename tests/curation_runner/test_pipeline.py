"""The pipeline's own rules (curation/pipeline.py) on tiny inputs: step labels and path defaults, the paths a
dry run says are missing, config loading, phases cut at global steps, where each phase's files go, the
resume guard, and the funnel summed over shards and phases. Fast unit tests: test_runner.py and
test_resume.py run the same code on real text and through kills."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from infir.config import ConfigError
from infir.curation.base import GlobalStep, Step
from infir.curation.pipeline import (
    Layout,
    PipelineConfig,
    build_steps,
    load_config,
    missing_paths,
    run_pipeline,
    split_phases,
)
from infir.curation.registry import register_step

from .helpers import MinWords  # noqa: F401 (registers test_min_words and test_slow)


@register_step("test_fit_spy")
class FitSpy(GlobalStep):
    """A global step that keeps nothing from its fit but a record of what it saw: {label: {shard: [ids]}}."""

    seen: dict[str, dict[str, list[str]]] = {}

    @dataclass
    class Config:
        label: str = "spy"

    def fit(self, shards, workdir):
        FitSpy.seen[self.config.label] = {name: [d["id"] for d in open_()] for name, open_ in shards.items()}

    def filter(self, doc):
        return None


@register_step("test_pid")
class Pid(Step):
    """Stamps each document with the process that ran the step."""

    @dataclass
    class Config:
        pass

    def filter(self, doc):
        doc["_pid"] = os.getpid()
        return None


def jsonl(path: Path, docs: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_a_step_type_used_again_is_numbered():
    cfg = PipelineConfig(steps=[{"type": "test_min_words"}, {"type": "exact_dedup"}, {"type": "test_min_words"},
                                {"type": "test_min_words", "min_words": 3}])  # fmt: skip
    assert [label for label, _ in build_steps(cfg)] == ["test_min_words", "exact_dedup", "test_min_words#2",
                                                        "test_min_words#3"]  # fmt: skip
    with pytest.raises(ConfigError, match=r"steps\[1\]\.min_words"):
        build_steps(
            PipelineConfig(steps=[{"type": "test_min_words"}, {"type": "test_min_words", "min_words": -1}])
        )


def test_path_fields_come_from_the_pipeline_when_a_step_leaves_them_empty():
    cfg = PipelineConfig(
        decontam_index="/idx.npz",
        recall_model="/recall.bin",
        quality_model="/quality.bin",
        steps=[
            {"type": "decontaminate"},
            {"type": "decontaminate", "index": "/own.npz"},
            {"type": "recall"},
            {"type": "recall", "model": "/own.bin"},
            {"type": "recall", "models": {"math": "/m.bin"}},
            {"type": "quality_score"},
        ],
    )
    steps = [s for _, s in build_steps(cfg)]
    assert [steps[0].config.index, steps[1].config.index] == ["/idx.npz", "/own.npz"]
    assert [(s.config.model, s.config.models) for s in steps[2:5]] == [
        ("/recall.bin", {}), ("/own.bin", {}), ("", {"math": "/m.bin"})]  # fmt: skip
    assert steps[5].config.model == "/quality.bin"
    assert cfg.steps[0] == {"type": "decontaminate"}  # the config's own specs are not filled in
    # per-domain models come before the single model, for recall steps that name neither
    cfg.recall_models = {"code": "/c.bin"}
    steps = [s for _, s in build_steps(cfg)]
    assert [(s.config.model, s.config.models) for s in steps[2:5]] == [
        ("", {"code": "/c.bin"}), ("/own.bin", {}), ("", {"math": "/m.bin"})]  # fmt: skip
    with pytest.raises(ConfigError, match=r"steps\[0\]\.index"):
        build_steps(PipelineConfig(steps=[{"type": "decontaminate"}]))


def test_recall_models_come_from_yaml_typed_specs():
    # a step type read from a file is equal to "recall", not the same object
    cfg = PipelineConfig(recall_models={"code": "/c.bin"}, steps=[{"type": "".join(["re", "call"])}])
    ((_, step),) = build_steps(cfg)
    assert (step.config.model, step.config.models) == ("", {"code": "/c.bin"})


def test_a_dry_run_names_the_paths_nothing_sets(tmp_path):
    yaml = tmp_path / "p.yaml"
    yaml.write_text(
        "steps:\n"
        "  - {type: decontaminate}\n"
        "  - {type: recall}\n"
        "  - {type: recall}\n"
        "  - {type: quality_score, model: /q.bin}\n"
        "  - {type: test_min_words}\n"
        "engines:\n"
        "  gen: {backend: scripted}\n"
        "  judge: {backend: scripted, model: /m}\n"
    )
    assert missing_paths(yaml) == ["engines.gen.model", "decontam_index", "recall_model"]
    assert missing_paths(yaml, ["decontam_index=/i.npz", "recall_models.math=/m.bin"]) == [
        "engines.gen.model"
    ]
    assert missing_paths(yaml, ["recall_model=/r.bin", "engines.gen.model=/g"]) == ["decontam_index"]
    # per-domain recall models set recall steps only: the index is still missing
    assert missing_paths(yaml, ["recall_models.math=/m.bin"]) == ["engines.gen.model", "decontam_index"]
    yaml.write_text(
        "steps:\n  - {type: recall, models: {math: /m.bin}}\n  - {type: decontaminate, index: /i}\n"
    )
    assert missing_paths(yaml) == []


def test_settings_bounds_and_engines_are_checked():
    cfg = PipelineConfig()
    assert (cfg.batch_size, cfg.num_cpus, cfg.workers, cfg.executor) == (1000, 2, 1, "local")
    for name in ("batch_size", "num_cpus", "workers"):
        assert getattr(load_config(cfg, [f"{name}=1"]), name) == 1
        with pytest.raises(ConfigError, match=name):
            load_config(cfg, [f"{name}=0"])
    with pytest.raises(ConfigError, match=r"engines\.gen\.bogus"):
        load_config(cfg, ["engines.gen.backend=scripted", "engines.gen.bogus=1"])
    filled = load_config(cfg, ["engines.gen.backend=scripted"])
    assert filled.engines["gen"]["backend"] == "scripted" and "temperature" in filled.engines["gen"]


def test_load_config_from_instances_files_and_overrides(tmp_path):
    cfg = PipelineConfig(name="x", steps=[{"type": "test_min_words"}])
    assert load_config(cfg) is cfg
    changed = load_config(cfg, ["batch_size=7"])
    assert changed.batch_size == 7 and cfg.batch_size == 1000
    yaml = tmp_path / "mine.yaml"
    yaml.write_text("steps: [{type: test_min_words}]\nbatch_size: 3\n")
    loaded = load_config(yaml, ["batch_size=5"])
    assert (loaded.name, loaded.batch_size) == ("mine", 5)  # the file's stem names it unless it says
    yaml.write_text("name: given\nsteps: []\n")
    assert load_config(str(yaml)).name == "given"
    with pytest.raises(ConfigError, match="batch_size"):
        load_config(yaml, ["batch_size=0"])


def test_phases_are_cut_at_each_global_step():
    cfg = PipelineConfig(steps=[{"type": "test_min_words"}, {"type": "exact_dedup"}, {"type": "test_min_words"},
                                {"type": "exact_dedup"}])  # fmt: skip
    phases = split_phases(build_steps(cfg))
    assert [p.index for p in phases] == [0, 1, 2]
    assert [[label for label, _ in p.steps] for p in phases] == [
        ["test_min_words"], ["exact_dedup", "test_min_words#2"], ["exact_dedup#2"]]  # fmt: skip
    assert [p.global_step and p.global_step[0] for p in phases] == [None, "exact_dedup", "exact_dedup#2"]
    first = split_phases(build_steps(PipelineConfig(steps=[{"type": "exact_dedup"}])))
    assert [len(p.steps) for p in first] == [0, 1] and first[0].global_step is None
    assert [len(p.steps) for p in split_phases([])] == [0]


def test_only_the_last_phase_keeps_into_the_output(tmp_path):
    layout = Layout(tmp_path, 3)
    assert layout.kept(2, "s") == tmp_path / "kept" / "s.jsonl"
    assert layout.kept(1, "s") == tmp_path / "_state" / "phase1" / "kept" / "s.jsonl"
    assert layout.kept(0, "a/b") == tmp_path / "_state" / "phase0" / "kept" / "a/b.jsonl"
    assert layout.rejects(2, "s") == tmp_path / "_state" / "phase2" / "rejects" / "s.jsonl"
    assert layout.marker(0, "s") == tmp_path / "_state" / "phase0" / "done" / "s.json"


DOCS_A = [{"id": "a1", "text": "one two three four five six"}, {"id": "a2", "text": "short"},
          {"id": "a3", "text": "seven eight nine ten eleven twelve"}]  # fmt: skip
DOCS_B = [{"id": "b1", "text": "ONE two three  four five six"}, {"id": "b2", "text": "tiny one"}]
STEPS = [{"type": "test_min_words", "min_words": 3}, {"type": "exact_dedup", "num_partitions": 2},
         {"type": "test_min_words", "min_words": 6}]  # fmt: skip


def test_a_run_writes_each_phase_then_the_output_and_its_funnel(tmp_path, capsys):
    src = tmp_path / "in"
    jsonl(src / "a.jsonl", DOCS_A)
    jsonl(src / "b.jsonl", DOCS_B + [{"id": "b3"}])  # b3 has no text: malformed
    out = tmp_path / "out"
    report = run_pipeline(PipelineConfig(name="t", steps=STEPS), src, out, quiet=True)
    assert "funnel: t" not in capsys.readouterr().err  # quiet: no table
    assert [d["id"] for d in lines(out / "kept" / "a.jsonl")] == ["a1", "a3"]
    assert lines(out / "kept" / "b.jsonl") == []
    rejects = lines(out / "rejects" / "b.jsonl")  # every phase's rejects: by phase, then in input order
    assert [(r.get("id"), r["_step"], r["_reason"]) for r in rejects] == [
        ("b2", "test_min_words", "too_short"), (None, "read", "malformed"), ("b1", "exact_dedup", "exact_duplicate")]  # fmt: skip
    assert rejects[1]["_source"] == f"{src / 'b.jsonl'}:3" and rejects[2]["_duplicate_of"] == "a1"
    assert [r["id"] for r in lines(out / "rejects" / "a.jsonl")] == ["a2"]
    for phase in (0, 1):
        for shard in ("a", "b"):
            marker = (out / "_state" / f"phase{phase}" / "done" / f"{shard}.json").read_text()
            assert marker == json.dumps(json.loads(marker), sort_keys=True)  # written the same way every time
    assert [d["id"] for d in lines(out / "_state" / "phase0" / "kept" / "b.jsonl")] == ["b1"]
    funnel = {s["step"]: s for s in json.loads((out / "funnel.json").read_text())["steps"]}
    assert list(funnel) == ["read", "test_min_words", "exact_dedup", "test_min_words#2"]
    assert (funnel["read"]["docs_in"], funnel["read"]["docs_out"]) == (6, 5)
    assert funnel["test_min_words"]["dropped_docs"] == {"too_short": 2}
    assert funnel["exact_dedup"]["dropped_docs"] == {"exact_duplicate": 1}
    assert (funnel["test_min_words#2"]["docs_in"], funnel["test_min_words#2"]["docs_out"]) == (2, 2)
    assert report.docs_out == 2 and 0 <= report.seconds < 60
    saved = (out / "config.yaml").read_text()
    assert "name: t" in saved and "num_partitions: 2" in saved


def test_the_run_time_is_measured_from_the_start(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from infir.curation import pipeline

    clock = iter([500.0, 503.5])
    monkeypatch.setattr(pipeline, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    report = run_pipeline(
        PipelineConfig(), jsonl(tmp_path / "in" / "a.jsonl", DOCS_A), tmp_path / "o" / "deep", quiet=True
    )
    assert report.seconds == 3.5
    assert json.loads((tmp_path / "o" / "deep" / "funnel.json").read_text())["seconds"] == 3.5


def test_a_rerun_reads_nothing_and_prints_the_same_table(tmp_path, capsys):
    src = jsonl(tmp_path / "in" / "a.jsonl", DOCS_A)
    out = tmp_path / "out"
    first = run_pipeline(PipelineConfig(name="t", steps=STEPS), src, out)
    table = capsys.readouterr().err  # the funnel table goes to stderr
    assert "funnel: t (1 shards" in table and "test_min_words#2" in table
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.jsonl")}
    src.write_text("not even json\n")  # a rerun that read its input again would see this
    again = run_pipeline(PipelineConfig(name="t", steps=STEPS, workers=2), src, out, executor="local")
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.jsonl")} == before
    assert again.docs_out == first.docs_out == 2
    assert "funnel: t (1 shards" in capsys.readouterr().err


def test_resume_refuses_a_different_config_but_not_a_different_executor(tmp_path):
    src = jsonl(tmp_path / "in" / "a.jsonl", DOCS_A)
    out = tmp_path / "out"
    run_pipeline(PipelineConfig(name="t", steps=STEPS, workers=1), src, out, quiet=True)
    saved = (out / "config.yaml").read_text()
    assert "workers: 1" in saved and "executor: local" in saved
    run_pipeline(PipelineConfig(name="t", steps=STEPS, workers=3, num_cpus=5), src, out, quiet=True)
    assert (out / "config.yaml").read_text() == saved  # execution fields are saved at their defaults
    with pytest.raises(ConfigError, match="different config") as err:
        run_pipeline(PipelineConfig(name="t", steps=STEPS[:1]), src, out, quiet=True)
    assert err.value.path == str(out / "config.yaml")
    for other in ("s", "u"):  # a saved config text that sorts after the new one, and before it
        with pytest.raises(ConfigError, match="different config"):
            run_pipeline(PipelineConfig(name=other, steps=STEPS), src, out, quiet=True)
    # without its _state folder the old config.yaml is no run to resume: it is replaced
    (out / "config.yaml").write_text("something else\n")
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "config.yaml").write_text("old\n")
    run_pipeline(PipelineConfig(name="t", steps=STEPS[:1]), src, fresh, quiet=True)
    assert "test_min_words" in (fresh / "config.yaml").read_text()


def test_labelled_sources_set_the_global_steps_order(tmp_path):
    jsonl(tmp_path / "web" / "s.jsonl", [{"id": "w", "text": "same words here now"}])
    jsonl(tmp_path / "code" / "s.jsonl", [{"id": "c", "text": "same words here now"}])
    out = tmp_path / "out"
    cfg = PipelineConfig(steps=[{"type": "exact_dedup", "num_partitions": 1}])
    run_pipeline(cfg, [f"code={tmp_path / 'code'}", f"web={tmp_path / 'web'}"], out, quiet=True)
    # code is listed first, so its copy survives although `web` would not sort first either way
    assert [d["id"] for d in lines(out / "kept" / "code" / "s.jsonl")] == ["code/c"]
    assert lines(out / "kept" / "web" / "s.jsonl") == []
    out2 = tmp_path / "out2"
    run_pipeline(cfg, [f"web={tmp_path / 'web'}", f"code={tmp_path / 'code'}"], out2, quiet=True)
    assert [d["id"] for d in lines(out2 / "kept" / "web" / "s.jsonl")] == ["web/w"]


def test_a_step_spec_that_is_not_a_mapping_is_refused():
    with pytest.raises(ConfigError, match=r"steps\[0\]"):
        build_steps(PipelineConfig(steps=["test_min_words"]))  # type: ignore[list-item]


def test_each_global_fit_sees_what_the_phase_before_kept(tmp_path):
    src = tmp_path / "in"
    jsonl(src / "a.jsonl", [{"id": f"a{i}", "text": "w " * i} for i in range(1, 10)])
    steps = [
        {"type": "test_min_words", "min_words": 2},
        {"type": "test_fit_spy", "label": "one"},
        {"type": "test_min_words", "min_words": 4},
        {"type": "test_fit_spy", "label": "two"},
        {"type": "test_slow", "sleep_s": 0},  # drops ids ending in 7
        {"type": "test_fit_spy", "label": "three"},
        {"type": "test_min_words", "min_words": 5},
    ]
    FitSpy.seen.clear()
    run_pipeline(PipelineConfig(steps=steps), src, tmp_path / "out", quiet=True)
    assert FitSpy.seen == {
        "one": {"a": [f"a{i}" for i in range(2, 10)]},
        "two": {"a": [f"a{i}" for i in range(4, 10)]},
        "three": {"a": ["a4", "a5", "a6", "a8", "a9"]},
    }
    # the last phase reads what the one before kept (a7 stays out)
    assert [d["id"] for d in lines(tmp_path / "out" / "kept" / "a.jsonl")] == ["a5", "a6", "a8", "a9"]


@pytest.mark.parametrize("workers, shards, in_process", [(1, 2, True), (2, 1, True), (2, 2, False)])
def test_worker_processes_run_only_for_several_shards_and_workers(tmp_path, workers, shards, in_process):
    src = tmp_path / "in"
    for i in range(shards):
        jsonl(src / f"s{i}.jsonl", [{"id": f"s{i}", "text": "x"}])
    out = tmp_path / "out"
    run_pipeline(PipelineConfig(steps=[{"type": "test_pid"}], workers=workers), src, out, quiet=True)
    pids = {d["_pid"] for f in sorted((out / "kept").glob("*.jsonl")) for d in lines(f)}
    assert (pids == {os.getpid()}) is in_process, pids
