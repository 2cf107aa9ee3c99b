"""Anneal helpers: one solution per problem (Python preferred, deterministic) and mixture sampling."""

from __future__ import annotations

import json

from infir.curation.anneal import MixtureSampleConfig, MixtureSource, sample_mixture
from infir.curation.pipeline import PipelineConfig, run_pipeline
from infir.curation.registry import build_step

CPP, PY3, JAVA, PY2 = 2, 3, 4, 1


def test_one_solution_prefers_python_codecontests_and_apps():
    step = build_step({"type": "one_solution_per_problem"})
    cc = {
        "id": "cc1",
        "text": "",
        "description": "Add two numbers.",
        "solutions": {
            "language": [CPP, JAVA, PY2, PY3, PY3],
            "solution": [
                "int main(){}",
                "class A{}",
                "print a+b",
                "print(sum(map(int, input().split())))",
                "a, b = map(int, input().split())\nprint(a + b)",
            ],
        },
    }
    assert step.filter(cc) is None
    assert cc["solution_language"] == "python"
    assert (
        cc["text"].startswith("Add two numbers.") and "print(sum(map(int" in cc["text"]
    )  # shortest Python 3
    cpp_only = {
        "id": "cc2",
        "text": "",
        "description": "X",
        "solutions": {"language": [JAVA, CPP], "solution": ["class B{}", "int f();"]},
    }
    assert step.filter(cpp_only) is None and cpp_only["solution_language"] == "cpp"
    apps = {
        "id": "a1",
        "text": "",
        "question": "Reverse a string.",
        "solutions": json.dumps(["print(input()[::-1])\n", "s = input()\nprint(''.join(reversed(s)))"]),
    }
    assert step.filter(apps) is None and apps["text"].endswith("print(input()[::-1])\n")
    assert step.filter({"id": "a2", "text": "", "question": "Q", "solutions": "[]"}) == "no_solution"
    assert step.filter({"id": "a3", "text": "", "solutions": "[]"}) == "no_statement"


def test_anneal_pipeline_on_apps_rows(tmp_path):
    src = tmp_path / "apps"
    src.mkdir()
    rows = [
        {
            "id": f"p{i}",
            "question": f"Problem {i}: print {i}.",
            "solutions": json.dumps([f"print({i})"] * 2),
            "text": "",
        }
        for i in range(6)
    ]
    rows.append({"id": "empty", "question": "nothing", "solutions": "", "text": ""})
    (src / "apps.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = PipelineConfig(
        name="anneal",
        steps=[{"type": "one_solution_per_problem"}, {"type": "exact_dedup", "num_partitions": 1}],
    )
    rep = run_pipeline(cfg, src, tmp_path / "out", quiet=True)
    kept = [json.loads(x) for x in (tmp_path / "out" / "kept" / "apps.jsonl").read_text().splitlines()]
    assert rep.docs_out == 6 and all("solutions" not in d and "print(" in d["text"] for d in kept)


def test_sample_mixture_keeps_source_proportions_and_is_deterministic(tmp_path):
    for name, n, words in (("code", 200, 50), ("math", 100, 20)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "s.jsonl").write_text(
            "".join(
                json.dumps({"id": f"{name}{i}", "text": " ".join(["w"] * words)}) + "\n" for i in range(n)
            )
        )
    cfg = MixtureSampleConfig(
        sources={
            "code": MixtureSource(str(tmp_path / "code")),
            "math": MixtureSource(str(tmp_path / "math")),
        },
        output=str(tmp_path / "mix"),
        target_tokens=6000,
        seed=7,
    )
    summary = sample_mixture(cfg)
    # original proportion: code 10,000 / 12,000 tokens
    assert abs(summary["code"]["share"] - 10000 / 12000) < 1e-6
    assert abs(summary["code"]["tokens"] - 5000) <= 50 and abs(summary["math"]["tokens"] - 1000) <= 20
    first = (tmp_path / "mix" / "code.jsonl").read_bytes()
    sample_mixture(cfg)
    assert (tmp_path / "mix" / "code.jsonl").read_bytes() == first
    cfg.sources["math"].weight, cfg.sources["code"].weight = 0.5, 0.5
    summary = sample_mixture(cfg)
    assert abs(summary["math"]["tokens"] - 2000) <= 20 and summary["math"]["share"] == 0.5
