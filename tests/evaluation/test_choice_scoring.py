"""The multiple-choice and answer-NLL arithmetic (infir/evaluation/choice.py) on fixed log-likelihoods.

test_eval.py checks the whole path on a real trained model against a hand computation from its logits;
here the scorer is replaced by a table of (log-prob, tokens, greedy) per request, so every figure the
reports print (softmax over choices, accuracy, token-weighted NLL, greedy match) is pinned exactly, along
with the items' parsing rules and the requests sent."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from infir.config import ConfigError
from infir.evaluation import choice
from infir.evaluation.choice import evaluate_answer_nll, evaluate_choice, normalised_choice, parse_item


@pytest.mark.parametrize(
    "rec, expected",
    [
        ({"question": "q", "choices": ["a", "b"], "answer": 1}, ("q", ["a", "b"], 1)),
        ({"context": "c", "choices": ["a", "b", "c"], "answer": 0}, ("c", ["a", "b", "c"], 0)),
        ({"question": "q", "context": "c", "choices": ["a", "b"], "answer": " b "}, ("q", ["a", "b"], 1)),
        ({"question": "q", "choices": ["a", "b", "c"], "answer": "C"}, ("q", ["a", "b", "c"], 2)),
        ({"question": "q", "choices": ["a", "b"], "answer": "a"}, ("q", ["a", "b"], 0)),
    ],
)
def test_items_parse(rec, expected):
    assert parse_item(rec) == expected


@pytest.mark.parametrize(
    "rec, error, message",
    [
        ({"choices": ["a", "b"], "answer": 0}, ConfigError, "field 'question' (or 'context') missing"),
        ({"question": 3, "choices": ["a", "b"], "answer": 0}, ConfigError, "'question'"),
        ({"question": "q", "answer": 0}, ConfigError, "field 'choices' must be a list of at least 2 strings"),
        ({"question": "q", "choices": "ab", "answer": 0}, ConfigError, "'choices'"),
        ({"question": "q", "choices": ["a"], "answer": 0}, ConfigError, "'choices'"),
        ({"question": "q", "choices": ["a", 2], "answer": 0}, ConfigError, "'choices'"),
        ({"question": "q", "choices": ["a", "b"], "answer": 2}, ValueError, "within the 2 choices"),
        ({"question": "q", "choices": ["a", "b"], "answer": -1}, ValueError, "'answer'"),
        ({"question": "q", "choices": ["a", "b"], "answer": "C"}, ValueError, "'answer'"),
        ({"question": "q", "choices": ["a", "b"], "answer": "AB"}, ValueError, "'answer'"),
        ({"question": "q", "choices": ["a", "b"], "answer": " "}, ValueError, "'answer'"),
        ({"question": "q", "choices": ["a", "b"], "answer": ""}, ValueError, "'answer'"),
        ({"question": "q", "choices": ["a", "b"], "answer": "1"}, ValueError, "'answer'"),
        ({"question": "q", "choices": ["a", "b"], "answer": True}, ValueError, "'answer'"),
        ({"question": "q", "choices": ["a", "b"], "answer": 1.0}, ValueError, "'answer'"),
        ({"question": "q", "choices": ["a", "b"]}, ValueError, "'answer'"),
    ],
)
def test_bad_items_name_where_and_the_field(rec, error, message):
    with pytest.raises(error, match=r"^mc.jsonl:4: .*" + message.replace("(", r"\(").replace(")", r"\)")):
        parse_item({**rec, "_where": "mc.jsonl:4"})
    with pytest.raises(error, match=r"^<record>: "):
        parse_item(rec)


def test_normalised_choice_is_a_stable_softmax():
    p = normalised_choice(np.array([0.0, math.log(3.0)]))
    assert p.tolist() == pytest.approx([0.25, 0.75], abs=1e-15)
    big = normalised_choice(np.array([-1000.0, -1001.0, -1002.0]))  # exp() alone underflows to 0/0
    e = np.exp([0.0, -1.0, -2.0])
    assert big.tolist() == pytest.approx((e / e.sum()).tolist(), abs=1e-15)
    assert normalised_choice(np.array([800.0, 800.0])).tolist() == [0.5, 0.5]  # exp() alone overflows


class Table:
    """Replaces the model: (log-prob, tokens, greedy) per (context, continuation), recording the calls."""

    def __init__(self, table):
        self.table, self.calls = table, []

    def __call__(self, lm, requests, batch_size):
        self.calls.append((lm, list(requests), batch_size))
        return [self.table[r] for r in requests]


@pytest.fixture
def scorer(monkeypatch):
    def install(table):
        fake = Table(table)
        monkeypatch.setattr(choice, "loglikelihood", fake)
        monkeypatch.setattr(choice, "load_lm", lambda path: f"model at {path}")
        return fake

    return install


def mc_file(tmp_path, items):
    path = tmp_path / "mc.jsonl"
    path.write_text("".join(json.dumps(i) + "\n" for i in items))
    return path


ITEMS = [
    {"question": "one", "choices": ["x", "yy"], "answer": 1},
    {"question": "two", "choices": ["p", "q", "r"], "answer": "A"},
]
P1, P2 = "Question: one\nAnswer:", "Question: two\nAnswer:"
TABLE = {
    (P1, " x"): (-1.0, 1, True),
    (P1, " yy"): (-3.0, 4, False),  # sum: x wins; mean (-0.75 vs -1.0): yy wins
    (P2, " p"): (-2.0, 2, True),
    (P2, " q"): (-2.0 - math.log(2), 2, False),
    (P2, " r"): (-6.0, 3, False),
}


def test_sum_scores_the_choices_and_reports_every_figure(tmp_path, scorer):
    fake = scorer(TABLE)
    res = evaluate_choice("/m", mc_file(tmp_path, ITEMS), batch_size=3)
    (lm, requests, batch), = fake.calls  # fmt: skip
    assert lm == "model at /m" and batch == 3
    assert requests == [(P1, " x"), (P1, " yy"), (P2, " p"), (P2, " q"), (P2, " r")]
    p1 = math.exp(-3) / (math.exp(-1) + math.exp(-3))
    p2 = 1 / (1 + 0.5 + math.exp(-4))
    assert res["items"] == 2 and res["score"] == "sum"
    assert [it["p_gold"] for it in res["per_item"]] == pytest.approx([p1, p2])
    assert [(it["pred"], it["gold"]) for it in res["per_item"]] == [(0, 1), (0, 0)]
    assert res["per_item"][1]["scores"] == pytest.approx([-2.0, -2.0 - math.log(2), -6.0])
    assert res["accuracy"] == 0.5
    assert res["choice_prob"] == pytest.approx((p1 + p2) / 2)
    assert res["choice_nll"] == pytest.approx(-(math.log(p1) + math.log(p2)) / 2)
    # the gold answers' own NLL, token-weighted: (3 + 2) / (4 + 2)
    assert res["answer_nll_per_token"] == pytest.approx(5 / 6) and res["answer_tokens"] == 6


def test_the_template_builds_each_prompt(tmp_path, scorer):
    fake = scorer({("Q: one =", " x"): (-1.0, 1, True), ("Q: one =", " yy"): (-2.0, 1, False)})
    res = evaluate_choice("/m", mc_file(tmp_path, ITEMS[:1]), template="Q: {question} =")
    assert fake.calls[0][1] == [("Q: one =", " x"), ("Q: one =", " yy")] and fake.calls[0][2] == 8
    assert res["per_item"][0]["pred"] == 0


def test_mean_scores_with_the_default_template(tmp_path, scorer):
    scorer(TABLE)
    # "mean" as a config file gives it (an equal string, not the same object); likewise "sum"
    assert (
        evaluate_choice("/m", mc_file(tmp_path, ITEMS), score="".join(["s", "um"]))["per_item"][0]["pred"]
        == 0
    )
    res = evaluate_choice("/m", mc_file(tmp_path, ITEMS), score="mean", max_items=1)
    assert res["items"] == 1
    assert res["per_item"][0]["scores"] == [-1.0, -0.75] and res["per_item"][0]["pred"] == 1
    assert res["accuracy"] == 1.0
    e = np.exp([-1.0, -0.75])
    assert res["choice_prob"] == pytest.approx(e[1] / e.sum())
    assert res["answer_nll_per_token"] == pytest.approx(0.75)  # the answer NLL is per token either way


def test_choice_errors_come_before_the_model(tmp_path, scorer):
    fake = scorer(TABLE)
    with pytest.raises(ValueError, match="score must be 'sum' or 'mean', got 'median'"):
        evaluate_choice("/m", mc_file(tmp_path, ITEMS), score="median")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match="empty.jsonl: no items"):
        evaluate_choice("/m", empty)
    with pytest.raises(ValueError, match=r"mc.jsonl:2: field 'answer'"):
        evaluate_choice("/m", mc_file(tmp_path, [ITEMS[0], {**ITEMS[1], "answer": 9}]))
    assert fake.calls == []


def test_a_certain_wrong_model_has_a_finite_choice_nll(tmp_path, scorer):
    scorer({(P1, " x"): (0.0, 1, True), (P1, " yy"): (-1e6, 1, False)})
    res = evaluate_choice("/m", mc_file(tmp_path, ITEMS[:1]))
    assert res["per_item"][0]["p_gold"] == 0.0
    assert res["choice_nll"] == pytest.approx(-math.log(1e-300))
    assert res["answer_nll_per_token"] == 1e6 and res["answer_tokens"] == 1


def test_a_prediction_past_the_gold_index_is_wrong(tmp_path, scorer):
    scorer({(P1, " x"): (-5.0, 1, False), (P1, " yy"): (-1.0, 1, True)})
    res = evaluate_choice("/m", mc_file(tmp_path, [{**ITEMS[0], "answer": 0}]))
    assert (res["per_item"][0]["pred"], res["per_item"][0]["gold"], res["accuracy"]) == (1, 0, 0.0)


def test_a_loaded_model_is_used_as_it_is(tmp_path, scorer):
    from infir.evaluation.model import LoadedLM

    lm = LoadedLM(model=None, tokenizer=None, device=None, max_len=0)
    fake = scorer(TABLE)
    evaluate_choice(lm, mc_file(tmp_path, ITEMS))
    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps({"question": "one", "answer": "x"}) + "\n")
    fake.table[(P1, " x")] = (-1.0, 1, True)
    evaluate_answer_nll(lm, path)
    assert [call[0] for call in fake.calls] == [lm, lm]


def test_answer_nll_is_token_weighted_with_greedy_match(tmp_path, scorer):
    path = tmp_path / "qa.jsonl"
    rows = [{"prompt": "def f():", "sol": " return 1"}, {"prompt": "def g():", "sol": " pass"},
            {"prompt": "def h():", "sol": "x"}]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    fake = scorer(
        {
            ("def f():", ">> return 1"): (-4.0, 3, True),
            ("def g():", ">> pass"): (-2.0, 1, False),
            ("def h():", ">>x"): (-9.0, 9, False),
        }  # fmt: skip
    )
    res = evaluate_answer_nll(
        "/m", path, question_field="prompt", answer_field="sol", template="{question}", answer_prefix=">>",
        max_items=2, batch_size=5,
    )  # fmt: skip
    assert fake.calls[0][1:] == ([("def f():", ">> return 1"), ("def g():", ">> pass")], 5)
    assert res == {"items": 2, "answer_nll_per_token": 1.5, "answer_tokens": 4, "greedy_match": 0.5}
    res = evaluate_answer_nll("/m", path, question_field="prompt", answer_field="sol", template="{question}",
                              answer_prefix=">>")  # fmt: skip
    assert res["items"] == 3 and res["answer_nll_per_token"] == pytest.approx(15 / 13)


def test_answer_nll_default_fields_and_errors(tmp_path, scorer):
    fake = scorer({("Question: q?\nAnswer:", " 42"): (-1.0, 2, True)})
    path = tmp_path / "gsm.jsonl"
    path.write_text(json.dumps({"question": "q?", "answer": "42"}) + "\n")
    assert evaluate_answer_nll("/m", path)["answer_nll_per_token"] == 0.5
    assert fake.calls[0][2] == 8  # the default batch size
    path.write_text(
        json.dumps({"question": "q?", "answer": "42"}) + "\n" + json.dumps({"answer": "1"}) + "\n"
    )
    with pytest.raises(ConfigError, match=r"gsm.jsonl:2: field 'question' missing or not a string"):
        evaluate_answer_nll("/m", path)
    path.write_text("\n")
    with pytest.raises(ConfigError, match="no items"):
        evaluate_answer_nll("/m", path)
    assert len(fake.calls) == 1
