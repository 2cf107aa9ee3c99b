"""Table 6's long-CoT suites: items, answer checking by value, GPQA's shuffled options, pass@1 over samples
with its standard error, and a real run of the suite on the tiny model."""

from __future__ import annotations

import json
import math
import shutil

import pytest

from infir.config import ConfigError
from infir.evaluation import reasoning, shipped
from infir.evaluation.suites import load_suite, run_suite


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_math_items_are_checked_by_value(tmp_path):
    data = _write(tmp_path / "m.jsonl", [{"problem": "1/2 as a decimal?", "answer": "\\frac{1}{2}"}])
    first = reasoning.read_items(data, "math", "problem", "answer")[0]
    assert first.prompt.endswith("put your final answer within \\boxed{}.") and first.answer == "\\frac{1}{2}"
    assert reasoning.is_correct("... so it is $\\boxed{0.5}$", first, "math")
    assert not reasoning.is_correct("... so it is $\\boxed{0.25}$", first, "math")
    assert not reasoning.is_correct("no box at all: 0.5", first, "math")
    bad = _write(tmp_path / "m2.jsonl", [{"problem": "p", "answer": "1"}, {"question": "x", "answer": "2"}])
    with pytest.raises(ConfigError, match="m2.jsonl:2: field 'problem' missing"):
        reasoning.read_items(bad, "math", "problem", "answer")
    olympiad = reasoning.read_items(_write(tmp_path / "o.jsonl", [{"question": "x", "final_answer": ["$2\\sqrt{2}$"]}]),
                                    "math", "question", "final_answer")[0]  # fmt: skip
    assert reasoning.is_correct("$\\boxed{\\sqrt{8}}$", olympiad, "math")


def test_gpqa_options_are_shuffled_reproducibly_and_the_letter_follows_the_answer(tmp_path):
    rows = [{"id": f"q{i}", "question": f"Q{i}?", "correct_answer": f"right{i}",
             "incorrect_answers": [f"w{i}a", f"w{i}b", f"w{i}c"]} for i in range(40)]  # fmt: skip
    data = _write(tmp_path / "g.jsonl", rows)
    items = reasoning.read_items(data, "choice", "question", "correct_answer")
    assert items == reasoning.read_items(
        data, "choice", "question", "correct_answer"
    )  # same seed, same order
    for item, row in zip(items, rows):
        assert f"{item.answer}. {row['correct_answer']}\n" in item.prompt
    letters = [it.answer for it in items]
    assert set(letters) == set("ABCD") and max(letters.count(x) for x in "ABCD") < 20  # spread, not always A
    it = items[0]
    assert reasoning.is_correct(f"so \\boxed{{{it.answer}}}", it, "choice")
    assert reasoning.is_correct(f"The answer is ({it.answer}).", it, "choice")
    wrong = next(x for x in "ABCD" if x != it.answer)
    assert not reasoning.is_correct(f"\\boxed{{{wrong}}}", it, "choice")
    bad = _write(tmp_path / "b.jsonl", [{"question": "q", "correct_answer": "a", "incorrect_answers": ["b"]}])
    with pytest.raises(ConfigError, match="b.jsonl:1:incorrect_answers"):
        reasoning.read_items(bad, "choice", "question", "correct_answer")


def test_pass_at_1_is_the_mean_over_samples_with_its_standard_error():
    res = reasoning.summarise([[True, True, False, False], [True, True, True, True], [False] * 4])
    assert res["pass@1"] == pytest.approx(0.5) and res["samples_per_item"] == 4 and res["items"] == 3
    assert res["stderr"] == pytest.approx(math.sqrt(0.25 / 3))  # per-item means 0.5, 1, 0: variance 0.25


@pytest.mark.slow
def test_math500_suite_runs_sampled_on_the_tiny_model(tiny_model, tmp_path):
    from transformers import AutoTokenizer

    from infir.data.tokenizer import LLAMA3_CHAT_TEMPLATE

    instruct = tmp_path / "instruct"
    shutil.copytree(tiny_model, instruct)
    tok = AutoTokenizer.from_pretrained(instruct)
    tok.chat_template = LLAMA3_CHAT_TEMPLATE
    tok.save_pretrained(instruct)
    from infir.evaluation.math_answer import last_boxed

    # MATH's real items in MATH500's schema (a bare answer beside the problem)
    rows = [{"problem": r["problem"], "answer": last_boxed(r["solution"])} for r in shipped.math()]
    data = _write(tmp_path / "math500.jsonl", rows)
    cfg = load_suite("math500", [f"data={data}", "n_samples=2", "max_new_tokens=6"])
    res = run_suite(cfg, instruct, tmp_path / "out")
    assert res["items"] == len(rows) and res["samples_per_item"] == 2 and res["temperature"] == 0.6
    assert 0.0 <= res["pass@1"] <= 1.0 and len(res["per_item"][0]["outputs"]) == 2
    again = run_suite(cfg, instruct, None)  # seeded sampling: the same samples on a rerun
    assert [r["outputs"] for r in again["per_item"]] == [r["outputs"] for r in res["per_item"]]
    assert (tmp_path / "out" / "math500.json").is_file()
    with pytest.raises(ConfigError, match="no chat template"):
        run_suite(cfg, tiny_model, None)
