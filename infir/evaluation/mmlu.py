"""MMLU the way lm-evaluation-harness's `mmlu` runs it, on local files: one task per subject, each with
lm-eval's own subject line ("The following are multiple choice questions (with answers) about ...") and
its first `num_fewshot` dev items of the same subject as shots; accuracy averaged over items (lm-eval's
`weight_by_size`). The template, choices, metric and subject lines are read from lm-eval's own task YAMLs
in its wheel, so the protocol cannot drift from lm-eval's; only the dataset is swapped for local JSONL.
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from infir.config import ConfigError
from infir.jsonl import iter_jsonl


def _task_dir() -> Path:
    import lm_eval

    return Path(lm_eval.__file__).parent / "tasks" / "mmlu" / "default"


def _rows(path: str | Path, skipped: list[dict[str, str]]) -> list[dict]:
    """The items of `path`; one lm-eval's A-D template cannot score (not 4 choices, answer not 0-3) goes to
    `skipped` with its file:line and reason instead of being scored against a missing letter."""
    rows = []
    for where, rec in iter_jsonl(path):
        if not isinstance(rec, dict) or "subject" not in rec:
            raise ConfigError(where, "an MMLU item needs a `subject` (cais/mmlu's layout)")
        choices, answer = rec.get("choices"), rec.get("answer")
        if not isinstance(choices, list) or len(choices) != 4:
            n = len(choices) if isinstance(choices, list) else 0
            skipped.append({"where": where, "reason": f"{n} choices; MMLU's template scores A-D"})
        elif not isinstance(answer, int) or not 0 <= answer < 4:
            skipped.append({"where": where, "reason": f"answer {answer!r} is not 0-3"})
        else:
            rows.append(rec)
    return rows


def has_subjects(path: str | Path) -> bool:
    with open(path, encoding="utf-8") as fh:
        first = next((line for line in fh if line.strip()), "")
    try:
        return "subject" in json.loads(first)
    except json.JSONDecodeError:
        return False


def task_configs(test_file: str | Path, dev_file: str | Path | None, num_fewshot: int,
                 fewshot_from_test: bool = False, skipped: list[dict[str, str]] | None = None,
                 ) -> list[dict[str, Any]]:  # fmt: skip
    """One lm-eval task config per subject of `test_file`, its shots from the same subject in `dev_file`.
    Items that cannot be scored are appended to `skipped` (file:line and reason)."""
    skipped = [] if skipped is None else skipped
    template = yaml.safe_load((_task_dir() / "_default_template_yaml").read_text())
    test = defaultdict(list)
    for row in _rows(test_file, skipped):
        test[row["subject"]].append(row)
    if dev_file is not None and Path(dev_file).resolve() == Path(test_file).resolve():
        # the same file as dev and test would put each item among its own shots, answer included
        if num_fewshot > 0 and not fewshot_from_test:
            raise ConfigError("fewshot_data", f"{dev_file} is also the test file: an item would see itself and "
                                              "its answer among its shots; give a separate dev split, or "
                                              "fewshot_from_test=true to draw shots from the test file "
                                              "without the item itself")  # fmt: skip
        dev_file = None
    dev = defaultdict(list)
    if dev_file is not None:
        for row in _rows(dev_file, skipped):
            dev[row["subject"]].append(row)
    elif num_fewshot > 0 and not fewshot_from_test:
        raise ConfigError("fewshot_data", "MMLU few-shot needs the dev split (fewshot_data=<dev.jsonl>)")
    root = Path(tempfile.mkdtemp(prefix="infir-mmlu-"))
    configs = []
    for subject, rows in sorted(test.items()):
        spec = root / subject
        spec.mkdir()
        (spec / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        files = {"test": str(spec / "test.jsonl")}
        fewshot_split = "test"  # lm-eval then draws num_fewshot + 1 and drops the item itself
        if dev_file is None and num_fewshot > len(rows) - 1:
            raise ConfigError("num_fewshot", f"{test_file}: {subject!r} has {len(rows)} items, so at most "
                                             f"{len(rows) - 1} shots from the test file; {num_fewshot} asked")  # fmt: skip
        if dev_file is not None:
            if num_fewshot > len(dev[subject]):
                raise ConfigError("fewshot_data", f"{dev_file}: {len(dev[subject])} dev items for {subject!r}, "
                                                  f"{num_fewshot} shots asked")  # fmt: skip
            (spec / "dev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in dev[subject]))
            files["dev"], fewshot_split = str(spec / "dev.jsonl"), "dev"
        subject_yaml = _task_dir() / f"mmlu_{subject}.yaml"
        if not subject_yaml.is_file():
            raise ConfigError("data", f"{test_file}: unknown MMLU subject {subject!r}")
        description = yaml.safe_load(subject_yaml.read_text())["description"]
        configs.append({
            "task": f"infir_mmlu_{subject}", "dataset_path": "json", "dataset_kwargs": {"data_files": files},
            "test_split": "test", "fewshot_split": fewshot_split, "num_fewshot": num_fewshot,
            "description": description, "fewshot_config": template["fewshot_config"],
            **{k: template[k] for k in ("output_type", "doc_to_text", "doc_to_choice", "doc_to_target", "metric_list")},
        })  # fmt: skip
    return configs


def micro_average(results: dict[str, dict], sizes: dict[str, int]) -> float:
    """Accuracy over all items (lm-eval's weight_by_size), from per-subject accuracies."""
    total = sum(sizes.values())
    return sum(results[t]["acc,none"] * n for t, n in sizes.items()) / max(total, 1)
