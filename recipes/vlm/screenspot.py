"""ScreenSpot-style scoring: a predicted click counts when it lies inside the target box.

Both clicks and boxes are in normalised [0, 1000] coordinates (gui.py). `run_suite` is the entry point
of the eval dispatcher (`kind: screenspot`): it scores a predictions file ({"point": [x, y]} or
{"answer": "<ref>..</ref><point>(x,y)</point>"} per line, in the data's order). Given a tiny CPU VLM
checkpoint and no predictions, `predict_clicks` generates them greedily first; a GPU model writes its
own file. An unparseable answer is a miss, counted as `unparsed`.
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
from infir.recipes.vlm.jsonl import iter_rows


@dataclass
class ScreenSpotConfig:
    kind: Literal["screenspot"] = "screenspot"
    data: str = "runs/vlm_tiny/data/screenspot.jsonl"  # {image, instruction, bbox: [x1,y1,x2,y2] in [0,1000]}
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


def _read_jsonl(path: str | Path, field: str) -> list[tuple[str, dict]]:
    """(`file:line`, row) pairs, so a bad row is named by its real line (blank lines included)."""
    if not Path(path).is_file():
        raise ConfigError(field, f"file not found: {path}")
    return list(iter_rows(path))


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
    located = _read_jsonl(cfg.data, "data")
    for where, row in located:
        if not isinstance(row.get("bbox"), list) or len(row["bbox"]) != 4:
            raise ConfigError(where, "field 'bbox' must be [x1, y1, x2, y2] in [0, 1000]")
    data = [row for _, row in located]
    predictions = cfg.predictions
    if not predictions and model_path and (Path(model_path) / "config.yaml").is_file():
        # a tiny CPU VLM checkpoint: generate the clicks here (a GPU model writes its own file)
        predictions = predict_clicks(model_path, cfg.data, Path(out_dir) / "screenspot_predictions.jsonl")
    if not predictions:
        raise ConfigError(
            "predictions",
            f"no predictions file; generate clicks with {model_path or 'the model'} "
            "on the GPU engine and pass predictions=<jsonl>",
        )
    preds = [_point(r) for _, r in _read_jsonl(predictions, "predictions")]
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


def predict_clicks(
    checkpoint: str | Path, data: str | Path, out: str | Path, max_new_tokens: int = 64
) -> Path:
    """Greedy answers of a tiny CPU VLM checkpoint to each row's instruction, as {"answer": ...} lines in
    the data's order: the predictions file `run_suite` scores."""
    from infir.recipes.vlm.generate_cpu import greedy_answers

    rows = _read_jsonl(data, "data")
    items = [(Path(data).parent / row.get("image", ""), str(row.get("instruction", ""))) for _, row in rows]
    answers = greedy_answers(checkpoint, items, max_new_tokens)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"answer": a}) + "\n" for a in answers))
    return path
