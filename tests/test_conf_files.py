"""Nothing drifts: every recipe and every YAML under conf/ builds and validates with its strict config."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infir.config import validate
from infir.paths import CONF_DIR
from infir.recipes.registry import get_recipe, recipes


def _yamls(kind: str) -> list[Path]:
    return sorted((CONF_DIR / kind).glob("*.yaml"))


def test_conf_folders_are_all_covered():
    assert {p.name for p in CONF_DIR.iterdir() if p.is_dir()} <= {
        "curation",
        "mixtures",
        "recipes",
        "eval",
        "cluster",
        "pipelines",
        "vlm",
        "paper",
        "synth",
    }


def test_paper_tables_name_real_suites_and_metrics():
    """Every benchmark of conf/paper/infir_tables.yaml maps to a suite that exists (or says null) and holds
    a fraction; the Table 1 numbers are docs/PAPER.md's (section 6)."""
    from infir.evaluation.paper import tables
    from infir.evaluation.suites import suite_names

    known = set(suite_names())
    for name, table in tables().items():
        for bench, spec in table["results"].items():
            assert spec["suite"] is None or spec["suite"] in known, (name, bench, spec)
            assert 0 < spec["paper"] < 1 and isinstance(spec["metric"], str), (name, bench)
    t1 = {b: s["paper"] for b, s in tables()["table1_base_fewshot"]["results"].items()}
    assert t1 == {"MMLU": 0.4724, "GSM8K": 0.6346, "MATH": 0.3182, "HumanEval": 0.378, "MBPP (EvalPlus)": 0.534,
                  "MBPP 3-shot": 0.376}  # fmt: skip


@pytest.mark.parametrize("name", sorted(recipes()))
def test_every_recipe_builds_and_validates(name):
    cfg = get_recipe(name)
    validate(cfg)


@pytest.mark.parametrize("path", _yamls("recipes"), ids=lambda p: p.stem)
def test_recipe_override_files(path):
    from infir.config import resolve

    # each file documents the recipe it is meant for in an `infir train <recipe>` usage line
    base = re.search(r"infir train (\w+)", path.read_text())
    assert base, f"{path}: say which recipe it overrides in an `infir train <recipe> --config ...` comment"
    resolve(get_recipe(base.group(1)), [path])


@pytest.mark.parametrize("path", _yamls("curation"), ids=lambda p: p.stem)
def test_curation_pipelines(path, tmp_path):
    from infir.config import ConfigError
    from infir.curation.pipeline import PATH_DEFAULTS, build_steps, load_config

    # site-specific model/index paths are given per run (recall_model=PATH, ...): placeholder files here,
    # so every step of every file is built and validated, not just those before the first model path
    fill = {}
    for _, default in PATH_DEFAULTS.values():
        (tmp_path / default).write_bytes(b"")
        fill[default] = str(tmp_path / default)
    cfg = load_config(path, [f"{k}={v}" for k, v in fill.items()])
    # demo_raw is the read-only side of the raw-vs-curated check: no step on purpose
    assert cfg.steps or path.stem == "demo_raw", f"{path} has no steps"
    built = build_steps(cfg)
    assert [step.name for _, step in built] == [spec["type"] for spec in cfg.steps]
    for (_, step), spec in zip(built, cfg.steps):
        field = PATH_DEFAULTS.get(spec["type"], (None,))[0]
        if field and not spec.get(field):  # the placeholder reached the step
            assert getattr(step, "cfg", getattr(step, "config", None)).__dict__[field] in fill.values()
    # without the per-site paths, a pipeline that needs one refuses to load, naming the step's field
    needs = [i for i, s in enumerate(cfg.steps) if s["type"] in PATH_DEFAULTS]
    if needs:
        with pytest.raises(ConfigError, match=rf"steps\[{needs[0]}\]\.(model|index)"):
            load_config(path)


@pytest.mark.parametrize("path", _yamls("synth"), ids=lambda p: p.stem)
def test_synth_pipelines(path, tmp_path):
    """Each synthesis pipeline builds with placeholder models, each prompt it names ships and fills only
    known fields, and without its models it refuses to load naming the first engine's `model`."""
    from infir.config import ConfigError
    from infir.curation.pipeline import build_steps, load_config, missing_paths

    missing = missing_paths(path, kind="synth")
    assert any(m.startswith("engines.") for m in missing), f"{path}: no engine needs a site path?"
    cfg = load_config(path, [f"{m}={tmp_path / 'placeholder'}" for m in missing], kind="synth")
    built = build_steps(cfg)
    assert [step.name for _, step in built] == [spec["type"] for spec in cfg.steps]
    for _, step in built:
        template = getattr(step, "template", None)
        if template is not None:
            fields = set(re.findall(r"\{(\w+)\}", template))
            assert fields & {"prompt", "text", "response"}, f"{step.name}: its prompt never quotes the sample"
    with pytest.raises(ConfigError, match=r"engines\.\w+\.model"):
        load_config(path, [f"{m}=x" for m in missing if not m.startswith("engines.")], kind="synth")


@pytest.mark.parametrize("path", _yamls("mixtures"), ids=lambda p: p.stem)
def test_mixtures(path):
    from infir.data.mix import load_mixture

    mix = load_mixture(path)
    assert abs(sum(s.share for s in mix.sources.values()) - 1.0) < 1e-6


@pytest.mark.parametrize("path", _yamls("eval"), ids=lambda p: p.stem)
def test_eval_suites(path):
    from infir.evaluation.suites import load_suite

    load_suite(str(path))


@pytest.mark.parametrize("path", _yamls("cluster"), ids=lambda p: p.stem)
def test_cluster_profiles(path):
    from infir.launcher.cluster import load_cluster

    load_cluster(path)


@pytest.mark.parametrize("path", _yamls("pipelines"), ids=lambda p: p.stem)
def test_launch_pipelines(path, tmp_path):
    from infir.launcher.chain import load_pipeline

    chain = load_pipeline(path, tmp_path)
    assert chain.names()


@pytest.mark.parametrize("path", _yamls("vlm"), ids=lambda p: p.stem)
def test_vlm_configs(path):
    from infir.config import resolve
    from infir.recipes.vlm.cli import CleanConfig

    cfg = resolve(CleanConfig(), [path])
    assert cfg.embedder and 0.0 < cfg.threshold < 1.0
