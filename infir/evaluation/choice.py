"""Benchmark answer NLL and the normalised-choice probability (docs/PAPER.md section 3).

Multiple-choice JSONL: {"question" or "context": str, "choices": [str, ...], "answer": int | "A".."Z"}.
Choice i gets a score s_i from the model's log-likelihood of " " + choice given the prompt:

- `score: sum`  s_i = sum of the choice's token log-probs (the paper's "log-likelihood"; the default);
- `score: mean` s_i = that sum / the choice's token count (length-normalised, favours long choices less).

p(c_i) = exp(s_i) / sum_j exp(s_j) (a softmax over the k choices). Reported: the gold choice's normalised
NLL -log p(gold) (mean over items), accuracy (argmax s_i == gold), and the gold answer's NLL per token
(token-weighted, independent of the other choices).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from infir.config import ConfigError
from infir.evaluation.model import LoadedLM, load_lm, loglikelihood
from infir.evaluation.nll import read_jsonl

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def parse_item(rec: dict) -> tuple[str, list[str], int]:
    """(prompt text, choices, gold index) of one record; errors name file:line and the field."""
    where = rec.get("_where", "<record>")
    question = rec.get("question", rec.get("context"))
    if not isinstance(question, str):
        raise ConfigError(where, "field 'question' (or 'context') missing or not a string")
    choices = rec.get("choices")
    if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) for c in choices):
        raise ConfigError(where, "field 'choices' must be a list of at least 2 strings")
    answer = rec.get("answer")
    if isinstance(answer, str) and len(answer.strip()) == 1 and answer.strip().upper() in LETTERS:
        answer = LETTERS.index(answer.strip().upper())
    if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(choices):
        raise ValueError(
            f"{where}: field 'answer' must be an index or letter within the {len(choices)} choices"
        )
    return question, choices, answer


def normalised_choice(scores: np.ndarray) -> np.ndarray:
    """p(c_i) = exp(s_i) / sum_j exp(s_j), computed stably (max subtracted)."""
    z = scores - scores.max()
    e = np.exp(z)
    return e / e.sum()


def evaluate_choice(
    model_path: str | Path | LoadedLM,
    data_path: str | Path,
    template: str = "Question: {question}\nAnswer:",
    score: str = "sum",
    max_items: int | None = None,
    batch_size: int = 8,
) -> dict:
    """Multiple-choice suite: normalised-choice NLL and accuracy of the gold answer, answer NLL/token."""
    if score not in ("sum", "mean"):
        raise ValueError(f"score must be 'sum' or 'mean', got {score!r}")
    # the data first: a bad line is reported before minutes of model loading
    items = [parse_item(r) for r in read_jsonl(data_path, "choices", max_items, typed=False)]
    if not items:
        raise ConfigError("data", f"{data_path}: no items")
    lm = model_path if isinstance(model_path, LoadedLM) else load_lm(model_path)
    requests = []
    for question, choices, _ in items:
        prompt = template.format(question=question)
        for c in choices:
            requests.append((prompt, " " + c))
    results = loglikelihood(lm, requests, batch_size)
    per_item: list[dict] = []
    gold_nll_sum, gold_tokens = 0.0, 0
    pos = 0
    for _question, choices, gold in items:
        res = results[pos : pos + len(choices)]
        pos += len(choices)
        lp = np.array([r[0] for r in res])
        ntok = np.array([r[1] for r in res])
        s = lp if score == "sum" else lp / ntok
        p = normalised_choice(s)
        gold_nll_sum -= lp[gold]
        gold_tokens += int(ntok[gold])
        per_item.append(
            {"p_gold": float(p[gold]), "pred": int(np.argmax(s)), "gold": gold, "scores": s.tolist()}
        )
    p_gold = np.array([it["p_gold"] for it in per_item])
    return {
        "items": len(items),
        "score": score,
        "choice_nll": float(-np.log(np.clip(p_gold, 1e-300, None)).mean()),
        "choice_prob": float(p_gold.mean()),
        "accuracy": float(np.mean([it["pred"] == it["gold"] for it in per_item])),
        "answer_nll_per_token": gold_nll_sum / max(gold_tokens, 1),
        "answer_tokens": gold_tokens,
        "per_item": per_item,
    }


def evaluate_answer_nll(
    model_path: str | Path | LoadedLM,
    data_path: str | Path,
    question_field: str = "question",
    answer_field: str = "answer",
    template: str = "Question: {question}\nAnswer:",
    answer_prefix: str = " ",
    max_items: int | None = None,
    batch_size: int = 8,
) -> dict:
    """NLL per token (token-weighted) of a free-form correct answer given its question.

    E.g. GSM8K solutions (`question`/`answer`) or HumanEval (`prompt`/`canonical_solution`, template
    "{question}", prefix ""): the continuation is `answer_prefix + answer`, scored as written.
    """
    requests = []
    for rec in read_jsonl(data_path, answer_field, max_items):
        if not isinstance(rec.get(question_field), str):
            raise ConfigError(rec["_where"], f"field {question_field!r} missing or not a string")
        requests.append((template.format(question=rec[question_field]), answer_prefix + rec[answer_field]))
    if not requests:
        raise ConfigError("data", f"{data_path}: no items")
    lm = model_path if isinstance(model_path, LoadedLM) else load_lm(model_path)
    results = loglikelihood(lm, requests, batch_size)
    total = -sum(r[0] for r in results)
    tokens = sum(r[1] for r in results)
    return {
        "items": len(requests),
        "answer_nll_per_token": total / tokens,
        "answer_tokens": tokens,
        "greedy_match": sum(r[2] for r in results) / len(results),
    }
