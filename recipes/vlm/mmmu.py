"""MMMU scoring as the benchmark's own evaluation does it (Yue et al. 2024, `eval_utils.py` of MMMU-Benchmark).

Data: a local file in MMMU's schema (JSONL, or the Parquet files of the HF dataset as downloaded): `id`
(`validation_<Subject>_<n>`), `question` (with `<image k>` placeholders), `options` (a list, or the string
form of one as in the HF files), `answer` (a letter, or free text for open questions), `question_type`
(`multiple-choice` | `open`), and `image_1` (a path next to the file) for the CPU model.
Predictions: JSONL, one {"id", "response"} per item (any order), written by the model's own serving stack;
with a tiny CPU VLM checkpoint and no predictions file, the responses are generated here from image_1.

Parsing follows MMMU's rules: for multiple choice, `(A)`, then a bare ` A `, then (for a response over five
words) an option's text; with several hits, the one that appears last. MMMU then guesses a random letter
when nothing is found; here that item scores the guess's expected value, 1/len(options), so the number is
the expectation of MMMU's and does not depend on a seed (the count is reported as `unparsed`). Open
questions: the key phrase after "answer", "is", "so", "therefore"... (or after "="), numbers compared by
value, text by containment.
"""

from __future__ import annotations

import ast
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from infir.config import ConfigError, from_dict, to_dict
from infir.recipes.vlm.jsonl import iter_rows

_INDICATORS = ("could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result ")
_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?(?:[eE][-+]?\d+)?")


@dataclass
class MMMUConfig:
    kind: Literal["mmmu"] = "mmmu"
    data: str = "MMMU_validation.jsonl"
    predictions: str | None = None  # JSONL {"id", "response"}


def read_items(path: str | Path) -> list[dict[str, Any]]:
    """The items of a JSONL or Parquet file, checked field by field (errors name the file and line/row)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("data", f"file not found: {path}")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        cols = ["id", "question", "options", "answer", "question_type"]
        located = [
            (f"{path}:row {i}", r) for i, r in enumerate(pq.read_table(path, columns=cols).to_pylist())
        ]
    else:
        located = list(iter_rows(path))
    items = []
    for where, row in located:
        for key in ("id", "question", "answer", "question_type"):
            if not isinstance(row.get(key), str):
                raise ConfigError(where, f"field {key!r} must be a string (MMMU's schema)")
        if row["question_type"] not in ("multiple-choice", "open"):
            raise ConfigError(
                where, f"question_type must be multiple-choice|open, got {row['question_type']!r}"
            )
        options = row.get("options", [])
        try:
            options = ast.literal_eval(options) if isinstance(options, str) else options
        except (ValueError, SyntaxError):
            raise ConfigError(where, "field 'options' is not a list (nor the string form of one)") from None
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            raise ConfigError(where, "field 'options' must be a list of strings")
        if row["question_type"] == "multiple-choice" and not options:
            raise ConfigError(where, "a multiple-choice item needs its options")
        items.append({**row, "options": options, "where": where})
    return items


def prompt(item: dict[str, Any]) -> str:
    """MMMU's prompt: the question, the lettered options, then the answer-format instruction."""
    if item["question_type"] == "multiple-choice":
        listed = "".join(f"({chr(65 + i)}) {o}\n" for i, o in enumerate(item["options"]))
        return f"{item['question']}\n\n{listed}\n\nAnswer with the option's letter from the given choices directly."
    return f"{item['question']}\n\nAnswer the question using a single word or phrase."


def parse_choice(response: str, options: list[str]) -> str | None:
    """The letter a response picks by MMMU's rules, or None where MMMU would guess."""
    letters = [chr(65 + i) for i in range(len(options))]
    text = " " + response.strip(",.!?;:'") + " "
    hits = {c: text.rfind(f"({c})") for c in letters if f"({c})" in text}
    if not hits:
        hits = {c: text.rfind(f" {c} ") for c in letters if f" {c} " in text}
    if not hits and len(text.split()) > 5:
        low = text.lower()
        hits = {
            c: low.rfind(o.lower()) for c, o in zip(letters, options, strict=True) if o and o.lower() in low
        }
    return max(hits, key=hits.get) if hits else None


def _numbers(text: str) -> list[float]:
    return [float(n.replace(",", "")) for n in _NUMBER.findall(text)]


def parse_open(response: str) -> list[str | float]:
    """Candidate answers of an open response: the key phrase of each sentence, its numbers by value."""
    parts = [p for p in re.split(r"\.\s(?=[A-Z])|\n", response.strip().strip(".")) if p.strip()]
    keys = []
    for i, part in enumerate(parts):
        low = part.lower()
        marks = [*_INDICATORS, "="] if i == len(parts) - 1 else list(_INDICATORS)
        cut = max((low.rfind(m) + len(m) for m in marks if m in low), default=-1)
        if cut >= 0 and low[cut:].strip():
            keys.append(low[cut:].strip(" .:*"))
    keys = keys or [response.strip().lower()]
    return [*keys, *(n for k in keys for n in _numbers(k))]


def is_correct(item: dict[str, Any], response: str) -> float:
    """1/0 per item; an unparsed multiple-choice response scores MMMU's random guess, 1/len(options)."""
    if item["question_type"] == "multiple-choice":
        letter = parse_choice(response, item["options"])
        return 1.0 / len(item["options"]) if letter is None else float(letter == item["answer"].strip())
    golds = ast.literal_eval(item["answer"]) if item["answer"].startswith("[") else [item["answer"]]
    preds = parse_open(response)
    for gold in map(str, golds):
        value = _numbers(gold)
        if len(value) == 1 and gold.strip().replace(",", "") == _NUMBER.findall(gold)[0].replace(",", ""):
            if any(isinstance(p, float) and round(p, 2) == round(value[0], 2) for p in preds):
                return 1.0
        elif any(isinstance(p, str) and gold.strip().lower() in p for p in preds):
            return 1.0
    return 0.0


def subject(item_id: str) -> str:
    """`validation_Art_Theory_12` -> `Art_Theory`."""
    return "_".join(item_id.split("_")[1:-1]) or "unknown"


def score(items: list[dict[str, Any]], responses: dict[str, str]) -> dict[str, Any]:
    """Micro-averaged accuracy (MMMU's overall number), per subject, and how many responses were not parsed."""
    per: dict[str, list[float]] = defaultdict(list)
    unparsed = 0
    for item in items:
        response = responses.get(item["id"])  # no response at all scores 0 (counted as missing), no guess
        if response is not None and item["question_type"] == "multiple-choice":
            unparsed += parse_choice(response, item["options"]) is None
        per[subject(item["id"])].append(0.0 if response is None else is_correct(item, response))
    total = [v for vs in per.values() for v in vs]
    return {"n": len(total), "accuracy": sum(total) / max(len(total), 1), "unparsed": unparsed,
            "missing": sum(item["id"] not in responses for item in items),
            "accuracy_per_subject": {s: sum(v) / len(v) for s, v in sorted(per.items())}}  # fmt: skip


def run_suite(cfg: Any, model_path: str | None, out_dir: str | Path) -> dict:
    """Score (or, from a CPU VLM checkpoint, first generate) MMMU responses; writes mmmu_predictions.jsonl."""
    known = {"kind", "data", "predictions"}
    cfg = from_dict(
        MMMUConfig, {k: v for k, v in (cfg if isinstance(cfg, dict) else to_dict(cfg)).items() if k in known}
    )
    items = read_items(cfg.data)
    predictions = cfg.predictions
    if not predictions and model_path and (Path(model_path) / "config.yaml").is_file():
        from infir.recipes.vlm.generate_cpu import greedy_answers

        base = Path(cfg.data).parent
        answers = greedy_answers(
            model_path, [(base / str(i.get("image_1", "")), prompt(i)) for i in items], 32
        )
        predictions = Path(out_dir) / "mmmu_predictions.jsonl"
        predictions.parent.mkdir(parents=True, exist_ok=True)
        predictions.write_text(
            "".join(
                json.dumps({"id": i["id"], "response": a}) + "\n" for i, a in zip(items, answers, strict=True)
            )
        )
    if not predictions:
        raise ConfigError("predictions", "no predictions file: give predictions=<JSONL of {id, response}>")
    responses = {}
    for where, row in iter_rows(predictions):
        if not isinstance(row.get("id"), str) or not isinstance(row.get("response"), str):
            raise ConfigError(where, "each prediction needs string fields 'id' and 'response'")
        responses[row["id"]] = row["response"]
    return {"suite": "mmmu", "model": model_path, **score(items, responses)}
