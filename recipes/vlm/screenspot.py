"""ScreenSpot-style scoring: a predicted click counts when it lies inside the target box.

Both clicks and boxes are in normalised [0, 1000] coordinates (gui.py). `run_suite` is the entry point
of the eval dispatcher (`kind: screenspot`): it scores a predictions file ({"point": [x, y]} or
{"answer": "<ref>..</ref><point>(x,y)</point>"} per line, in the data's order). It does not generate
with the model: the tiny CPU VLM cannot ground anything, and a number from it would mean nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from infir.config import ConfigError, from_dict, to_dict
from infir.recipes.vlm.gui import parse_answer


@dataclass
class ScreenSpotConfig:
    kind: Literal["screenspot"] = "screenspot"
    data: str = "data/eval/screenspot.jsonl"  # {image, instruction, bbox: [x1,y1,x2,y2] in [0,1000]}
    predictions: str | None = None  # JSONL, one prediction per data row, same order


def score_clicks(preds: Sequence[Sequence[float] | None], targets: Sequence[Sequence[float]]) -> float:
    """Share of predictions inside their target box (edges included); a missing prediction is a miss."""
    if len(preds) != len(targets):
        raise ValueError(f"{len(preds)} predictions for {len(targets)} targets")
    if not targets:
        return 0.0
    valid = np.array([p is not None for p in preds])
    p = np.array([p if p is not None else (-1, -1) for p in preds], dtype=np.float64).reshape(-1, 2)
    t = np.asarray(targets, dtype=np.float64).reshape(-1, 4)
    inside = (p[:, 0] >= t[:, 0]) & (p[:, 0] <= t[:, 2]) & (p[:, 1] >= t[:, 1]) & (p[:, 1] <= t[:, 3])
    return float((inside & valid).mean())


def _read_jsonl(path: str | Path, field: str) -> list[dict]:
    if not Path(path).is_file():
        raise ConfigError(field, f"file not found: {path}")
    rows = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise ConfigError(f"{path}:{n}", f"invalid JSON: {exc}") from None
    return rows


def _point(row: dict) -> tuple[float, float] | None:
    if "point" in row and row["point"] is not None:
        return tuple(row["point"])
    try:
        _, point, box = parse_answer(row.get("answer", ""))
    except ValueError:
        return None  # unparseable answer = a miss, counted, not dropped
    return point if point is not None else ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)


def run_suite(cfg: Any, model_path: str | None, out_dir: str | Path) -> dict:
    """Score predictions against ScreenSpot-style data; writes screenspot.json under out_dir."""
    if isinstance(cfg, Mapping):
        cfg = from_dict(ScreenSpotConfig, dict(cfg))  # strict: a typo in a YAML key fails here
    else:  # the eval dispatcher's own suite dataclass: take the fields this suite understands
        known = {"kind", "data", "predictions"}
        cfg = from_dict(ScreenSpotConfig, {k: v for k, v in to_dict(cfg).items() if k in known})
    data = _read_jsonl(cfg.data, "data")
    for n, row in enumerate(data, 1):
        if not isinstance(row.get("bbox"), list) or len(row["bbox"]) != 4:
            raise ConfigError(f"{cfg.data}:{n}", "field 'bbox' must be [x1, y1, x2, y2] in [0, 1000]")
    if not cfg.predictions:
        raise ConfigError(
            "predictions",
            f"no predictions file; generate clicks with {model_path or 'the model'} "
            "on the GPU engine and pass predictions=<jsonl>",
        )
    preds = [_point(r) for r in _read_jsonl(cfg.predictions, "predictions")]
    acc = score_clicks(preds, [r["bbox"] for r in data])
    result = {
        "suite": "screenspot",
        "model": model_path,
        "n": len(data),
        "accuracy": acc,
        "unparsed": sum(p is None for p in preds),
    }
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    (Path(out_dir) / "screenspot.json").write_text(json.dumps(result, indent=1))
    return result
