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
        "name": "1548_A. Add",
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
        "name": "1548_B. X",
        "description": "X",
        "solutions": {"language": [JAVA, CPP], "solution": ["class B{}", "int f();"]},
    }
    assert step.filter(cpp_only) is None and cpp_only["solution_language"] == "cpp"
    apps = {
        "problem_id": 1,
        "question": "Reverse a string.",
        "solutions": json.dumps(["print(input()[::-1])\n", "s = input()\nprint(''.join(reversed(s)))"]),
    }
    assert step.filter(apps) is None and apps["text"].endswith("print(input()[::-1])\n")
    assert step.filter({"problem_id": 2, "question": "Q", "solutions": "[]"}) == "no_solution"
    assert step.filter({"problem_id": 3, "solutions": "[]"}) == "no_statement"


def apps_row(i: int, solutions: list[str]) -> dict:
    """A row with the fields of the APPS dataset (solutions and tests are JSON strings, no `text`)."""
    return {
        "problem_id": i,
        "question": f"Problem {i}: read n and print n * {i}.",
        "solutions": json.dumps(solutions) if solutions else "",
        "input_output": json.dumps({"inputs": ["3\n"], "outputs": [f"{3 * i}\n"]}),
        "difficulty": "introductory",
        "url": f"https://codeforces.com/problemset/problem/{1000 + i}/A",
        "starter_code": "",
    }


def codecontests_row(name: str, langs: list[int], codes: list[str]) -> dict:
    """A row with the fields of DeepMind CodeContests (no `text`; solutions as language/solution lists)."""
    return {
        "name": name,
        "description": f"{name}: given two integers a and b, print their sum.",
        "public_tests": {"input": ["1 2\n"], "output": ["3\n"]},
        "private_tests": {"input": [], "output": []},
        "generated_tests": {"input": [], "output": []},
        "source": 2,
        "difficulty": 7,
        "solutions": {"language": langs, "solution": codes},
        "incorrect_solutions": {"language": [CPP], "solution": ["int main(){return 1;}"]},
        "cf_contest_id": 1548,
        "cf_index": "A",
        "cf_points": 500.0,
        "cf_rating": 800,
        "cf_tags": ["math"],
        "is_description_translated": False,
        "untranslated_description": "",
        "time_limit": {"seconds": 1, "nanos": 0},
        "memory_limit_bytes": 256000000,
        "input_file": "",
        "output_file": "",
    }


def test_anneal_pipeline_on_apps_and_codecontests_rows(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    apps = [
        apps_row(i, [f"n = int(input())\nprint(n * {i})", f"print(int(input()) * {i})"]) for i in range(6)
    ]
    apps.append(apps_row(99, []))  # APPS problems without solutions carry an empty string
    cc = [
        codecontests_row(
            "1548_A", [CPP, PY3], ["#include <cstdio>\nint main(){}", "print(sum(map(int, input().split())))"]
        ),
        codecontests_row("1548_B", [JAVA], ["class Main { public static void main(String[] a) {} }"]),
    ]
    (src / "apps.jsonl").write_text("".join(json.dumps(r) + "\n" for r in apps))
    (src / "codecontests.jsonl").write_text("".join(json.dumps(r) + "\n" for r in cc))
    steps = [{"type": "one_solution_per_problem"}, {"type": "exact_dedup", "num_partitions": 1}]
    # as plain text shards the rows have no `text`: every one is malformed
    rep = run_pipeline(PipelineConfig(name="t", steps=steps), src, tmp_path / "plain", quiet=True)
    assert rep.docs_out == 0 and rep.steps["read"].dropped_docs == {"malformed": 9}
    cfg = PipelineConfig(name="anneal", steps=steps, text_field="")
    rep = run_pipeline(cfg, src, tmp_path / "out", quiet=True)
    out = tmp_path / "out"
    kept_apps = [json.loads(x) for x in (out / "kept" / "apps.jsonl").read_text().splitlines()]
    kept_cc = [json.loads(x) for x in (out / "kept" / "codecontests.jsonl").read_text().splitlines()]
    assert [d["problem_id"] for d in kept_apps] == list(range(6))
    assert kept_apps[2]["text"] == "Problem 2: read n and print n * 2.\n\nprint(int(input()) * 2)\n"
    assert [d["solution_language"] for d in kept_cc] == ["python", "java"]
    assert kept_cc[0]["text"].endswith("print(sum(map(int, input().split())))\n")
    assert all("solutions" not in d for d in kept_apps + kept_cc)
    rejects = [json.loads(x) for x in (out / "rejects" / "apps.jsonl").read_text().splitlines()]
    assert [(r["problem_id"], r["_reason"]) for r in rejects] == [(99, "no_solution")]
    # the step builds `text`: its tokens enter the funnel as a token-only `text_added` entry
    s = rep.steps["one_solution_per_problem"]
    assert s.tokens_in == 0 and s.tokens_out == rep.tokens_out > 0
    assert s.tokens_in - s.tokens_out == sum(s.dropped_tokens.values())
    assert s.dropped_tokens["text_added"] == -s.tokens_out


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
