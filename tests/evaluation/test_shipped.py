"""Real benchmark items shipped inside lm-eval's wheel, and MATH answer checking on them."""

import json
import re

import pytest
from click.testing import CliRunner

from infir.evaluation import harness, math_answer, shipped
from infir.evaluation.cli import app


def test_mmlu_items_parse_with_gold_answers():
    rows = shipped.mmlu()
    assert len(rows) == 282 and len({r["subject"] for r in rows}) == 57
    first = rows[0]  # abstract_algebra's first exemplar: "The answer is (C)."
    assert first["subject"] == "abstract_algebra" and first["question"].startswith(
        "Statement 1 | Every element"
    )
    assert first["choices"] == ["True, True", "False, False", "True, False", "False, True"]
    assert first["answer"] == 2
    assert all(0 <= r["answer"] < len(r["choices"]) and len(r["choices"]) >= 4 for r in rows)
    assert not any("(B)" in c for r in rows for c in r["choices"])  # choices split apart


def test_gsm8k_and_mbpp_items():
    gsm = shipped.gsm8k()
    assert len(gsm) == 8 and gsm[0]["answer"].endswith("#### 6")
    # the final number is the one the chain of thought computes last
    assert all(re.search(r"= ?(\S+?)\.? The answer", r["answer"]) for r in gsm[:3])
    mbpp = shipped.mbpp()
    assert [r["task_id"] for r in mbpp] == [2, 3, 4] and all(len(r["test_list"]) == 3 for r in mbpp)


def test_mbpp_reference_code_passes_its_tests_in_the_sandbox():
    samples = [{"doc": r, "doc_id": i, "filtered_resps": [r["code"]]} for i, r in enumerate(shipped.mbpp())]
    assert harness._execute_mbpp(samples) == {"pass@1": 1.0, "passed": 3}
    broken = [{**s, "filtered_resps": ["def nothing():\n    pass\n"]} for s in samples]
    assert harness._execute_mbpp(broken)["passed"] == 0


def test_math_boxed_answer_agrees_with_the_final_answer_line():
    # two independent parts of each real item: the \boxed{} in the text and Minerva's "Final Answer" line
    for row in shipped.math():
        boxed = math_answer.last_boxed(row["solution"])
        final = re.search(r"The final answer is \$(.*)\$\. I hope", row["solution"])[1]
        assert math_answer.normalise(boxed) == math_answer.normalise(final)
    assert math_answer.last_boxed("so $x=\\boxed{\\frac{2}{3}}$, then }") == "\\frac{2}{3}"


@pytest.mark.parametrize(
    ("output", "ok"),
    [
        ("Thus $\\boxed{-\\dfrac{2}{3}}$.", True),
        ("Final Answer: The final answer is $-\\frac{2}{3}$. I hope it is correct.", True),
        ("Thus $\\boxed{\\frac{2}{3}}$.", False),
        ("no answer at all", False),
    ],
)
def test_math_process_results(output, ok):
    doc = next(r for r in shipped.math() if "-\\frac{2}{3}" in r["solution"])
    want = {"exact_match": int(ok), "math_verify": int(ok), "string_match": int(ok)}
    assert math_answer.process_results(doc, [output]) == want


@pytest.mark.parametrize(
    ("pred", "gold", "symbolic", "string"),
    [
        ("-0.6666666666666666", "-\\frac{2}{3}", True, False),  # the same value, spelled as a decimal
        ("\\sqrt{8}", "2\\sqrt{2}", True, False),
        ("(x+1)^2", "x^2+2x+1", True, False),
        ("\\frac{1}{2}", "0.5", True, False),
        ("1,000", "1000", True, True),
        ("21", "12", False, False),  # same digits, another number: a digit-blind matcher would pass it
        ("-\\frac{2}{3}", "\\frac{2}{3}", False, False),
        ("\\frac{2}{3}", "\\frac{3}{2}", False, False),
        ("x+1", "x+2", False, False),
        ("\\frac{", "\\frac{1}{2}", False, False),  # unparsable: wrong, not a crash
    ],
)
def test_math_answers_compared_by_value(pred, gold, symbolic, string):
    output, solution = f"so $\\boxed{{{pred}}}$.", f"The answer is $\\boxed{{{gold}}}$."
    assert math_answer.is_correct(output, solution) is symbolic
    assert math_answer.is_correct(output, solution, symbolic=False) is string


def test_export_shipped_cli(tmp_path):
    res = CliRunner().invoke(app, ["export-shipped", "--out", str(tmp_path), "--benchmark", "math"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(x) for x in (tmp_path / "math_shipped.jsonl").open()]
    assert len(rows) == 4 and "4 items" in res.output
    bad = CliRunner().invoke(app, ["export-shipped", "--out", str(tmp_path), "--benchmark", "mmmu"])
    assert bad.exit_code == 2 and "--benchmark" in bad.output


def test_suite_data_from_the_lm_eval_wheel():
    from infir.config import ConfigError
    from infir.evaluation.suites import load_suite

    cfg = load_suite("choice_mmlu_shipped")
    path = cfg.data_path()
    assert path.is_file() and sum(1 for _ in path.open()) == 282
    assert load_suite("harness_math").data_path("fewshot_data").read_text().count("\\\\boxed") == 4
    with pytest.raises(ConfigError, match="pkg:lm-eval"):
        load_suite("choice", ["data=pkg:lm-eval:mmmu"]).data_path()
