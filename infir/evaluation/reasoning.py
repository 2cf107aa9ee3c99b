"""Long-CoT benchmarks (the paper's Table 6): MATH500, AIME24, AMC23, OlympiadBench scored by value with
math-verify, and GPQA as four-way multiple choice with the options shuffled per item.

Every item is asked zero-shot (through the chat template for instruct models) with Qwen2.5-Math's CoT
instruction; the answer is the last `\\boxed{}`. pass@1 is the mean over items of each item's share of
correct samples out of `n_samples` (sampled at `temperature` when n_samples > 1: the long-CoT protocol;
greedy otherwise), reported with its standard error across items.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from pathlib import Path

from infir.config import ConfigError
from infir.evaluation import math_answer
from infir.jsonl import iter_jsonl

MATH_PROMPT = "{question}\nPlease reason step by step, and put your final answer within \\boxed{{}}."
CHOICE_PROMPT = (
    "{question}\n\nA. {A}\nB. {B}\nC. {C}\nD. {D}\n\n"
    "Please reason step by step, and put the letter of your final answer within \\boxed{{}}."
)
_LETTER = re.compile(r"(?:answer is|answer:)\s*\(?([ABCD])\)?", re.IGNORECASE)


@dataclass
class Item:
    id: str
    prompt: str
    answer: str  # the gold answer (math) or letter (choice)


def _field(rec: dict, name: str, where: str):
    if name not in rec:
        raise ConfigError(where, f"field {name!r} missing")
    return rec[name]


def read_items(
    path: str | Path, kind: str, question_field: str, answer_field: str, seed: int = 0
) -> list[Item]:
    """Items of a local JSONL; `kind` math: question + answer (a list, as OlympiadBench's final_answer, gives
    its first entry); choice: question + `answer_field` (the correct option) + `incorrect_answers` (three),
    shuffled with a per-item seed so the correct letter is spread evenly and reproducible."""
    items = []
    for where, rec in iter_jsonl(path, errors="surrogateescape"):
        if not isinstance(rec, dict):
            raise ConfigError(where, "a record must be a JSON object")
        question = str(_field(rec, question_field, where))
        answer = _field(rec, answer_field, where)
        item_id = str(rec.get("id", rec.get("unique_id", where.rsplit(":", 1)[1])))  # else the line number
        if kind == "choice":
            wrong = _field(rec, "incorrect_answers", where)
            if not isinstance(wrong, list) or len(wrong) != 3:
                raise ConfigError(f"{where}:incorrect_answers", "need exactly three incorrect options")
            options = [str(answer), *map(str, wrong)]
            order = list(range(4))
            random.Random(f"{seed}:{item_id}").shuffle(order)
            letters = dict(zip("ABCD", (options[i] for i in order)))
            items.append(
                Item(item_id, CHOICE_PROMPT.format(question=question, **letters), "ABCD"[order.index(0)])
            )
        else:
            gold = answer[0] if isinstance(answer, list) and answer else answer
            items.append(Item(item_id, MATH_PROMPT.format(question=question), str(gold).strip().strip("$")))
    if not items:
        raise ConfigError(str(path), "no items in the file")
    return items


def is_correct(output: str, item: Item, kind: str) -> bool:
    if kind == "choice":
        boxed = math_answer.last_boxed(output)
        found = boxed.strip().strip("()") if boxed else None
        if found not in ("A", "B", "C", "D"):
            match = _LETTER.findall(output)
            found = match[-1].upper() if match else None
        return found == item.answer
    pred = math_answer.model_answer(output)
    return pred is not None and math_answer.equivalent(pred, item.answer)


def summarise(correct: list[list[bool]]) -> dict[str, float]:
    """pass@1 (mean per-item accuracy over its samples) and its standard error across items."""
    per_item = [sum(c) / len(c) for c in correct]
    n = len(per_item)
    mean = sum(per_item) / n
    var = sum((p - mean) ** 2 for p in per_item) / (n - 1) if n > 1 else 0.0
    return {"pass@1": mean, "stderr": math.sqrt(var / n), "items": n, "samples_per_item": len(correct[0])}


def evaluate(model_path, data: Path, cfg) -> dict:
    """Generate `cfg.n_samples` answers per item and score them (see the module docstring)."""
    from infir.evaluation.model import LoadedLM, generate, load_lm

    lm = model_path if isinstance(model_path, LoadedLM) else load_lm(model_path)
    items = read_items(data, cfg.answer_type, cfg.question_field, cfg.answer_field, cfg.seed)[: cfg.limit]
    if cfg.chat_template and not getattr(lm.tokenizer, "chat_template", None):
        raise ConfigError("chat_template", f"{model_path}: the tokenizer has no chat template")
    prompts = [
        lm.tokenizer.apply_chat_template([{"role": "user", "content": it.prompt}], tokenize=False,
                                         add_generation_prompt=True)
        if cfg.chat_template else it.prompt
        for it in items
    ]  # fmt: skip
    temperature = cfg.temperature if cfg.n_samples > 1 else 0.0
    outputs = [
        generate(lm, prompts, cfg.max_new_tokens, (), temperature, cfg.top_p, cfg.seed + k, cfg.chat_template)
        for k in range(cfg.n_samples)
    ]
    correct = [[is_correct(outputs[k][i], it, cfg.answer_type) for k in range(cfg.n_samples)]
               for i, it in enumerate(items)]  # fmt: skip
    per_item = [{"id": it.id, "answer": it.answer, "correct": c, "outputs": [o[i] for o in outputs]}
                for i, (it, c) in enumerate(zip(items, correct))]  # fmt: skip
    return {**summarise(correct), "temperature": temperature, "per_item": per_item}
