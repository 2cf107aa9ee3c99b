"""Scripted engines and pipeline YAMLs for the synthesis tests (the real engines have their own tests)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml


def write_rules(path: Path, rules: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rules), encoding="utf-8")
    return path


def write_pipeline(path: Path, engines: dict, steps: list[dict], **extra) -> Path:
    data = {
        "name": path.stem,
        "text_field": "prompt",
        "batch_size": 4,
        "engines": engines,
        "steps": steps,
        **extra,
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def write_seeds(path: Path, prompts: list[str], extra: list[dict] | None = None) -> Path:
    rows = [
        {"id": f"s{i:03d}", "prompt": p, **((extra or [{}] * len(prompts))[i])} for i, p in enumerate(prompts)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_dir(folder: Path) -> list[dict]:
    return [json.loads(line) for f in sorted(folder.glob("*.jsonl")) for line in f.open() if line.strip()]
