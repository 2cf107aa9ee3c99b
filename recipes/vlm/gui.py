"""GUI grounding data: pixel coordinates <-> integers in [0, 1000], and reference-augmented answers.

docs/PAPER.md section 5: coordinates are normalised to integers in [0, 1000] (resolution-independent), and an
answer first names the element it refers to, then gives its location:
    <ref>the 'save' button</ref><point>(412,87)</point>
    <ref>the search field</ref><box>(100,40),(620,90)</box>
Rounding to 1/1000 of the image means a round trip is exact to within max(1, size/1000) pixels.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from infir.config import ConfigError

SCALE = 1000
_ANSWER = re.compile(
    r"<ref>(?P<ref>.*?)</ref>\s*(?:<point>\((?P<px>\d+),\s*(?P<py>\d+)\)</point>"
    r"|<box>\((?P<x1>\d+),\s*(?P<y1>\d+)\),\s*\((?P<x2>\d+),\s*(?P<y2>\d+)\)</box>)",
    re.S,
)


def _sizes(coords: Sequence[float], size: tuple[int, int]) -> np.ndarray:
    w, h = size
    if w <= 0 or h <= 0:
        raise ValueError(f"image size must be positive, got {size}")
    return np.array([w, h] * (len(coords) // 2), dtype=np.float64)


def normalize(coords: Sequence[float], size: tuple[int, int]) -> list[int]:
    """Pixel (x, y[, x2, y2]) for an image of size (w, h) -> ints in [0, 1000]."""
    v = np.rint(np.asarray(coords, dtype=np.float64) / _sizes(coords, size) * SCALE)
    return np.clip(v, 0, SCALE).astype(int).tolist()


def denormalize(coords: Sequence[int], size: tuple[int, int]) -> list[float]:
    """Ints in [0, 1000] -> pixel coordinates for an image of size (w, h)."""
    return (np.asarray(coords, dtype=np.float64) / SCALE * _sizes(coords, size)).tolist()


def normalize_point(point: Sequence[float], size: tuple[int, int]) -> tuple[int, int]:
    x, y = normalize(point, size)
    return x, y


def normalize_box(box: Sequence[float], size: tuple[int, int]) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = normalize(box, size)
    return x1, y1, x2, y2


def format_answer(ref: str, point: Sequence[int] | None = None, box: Sequence[int] | None = None) -> str:
    """Reference-augmented answer: the element's description, then its normalised point or box."""
    if (point is None) == (box is None):
        raise ValueError("give exactly one of point or box")
    if point is not None:
        return f"<ref>{ref}</ref><point>({point[0]},{point[1]})</point>"
    return f"<ref>{ref}</ref><box>({box[0]},{box[1]}),({box[2]},{box[3]})</box>"


def parse_answer(text: str) -> tuple[str, tuple[int, int] | None, tuple[int, int, int, int] | None]:
    """The first reference-augmented answer in `text` -> (ref, point, box); ValueError if there is none."""
    m = _ANSWER.search(text)
    if not m:
        raise ValueError(f"no <ref>..</ref><point>/<box> answer in {text[:80]!r}")
    if m["px"] is not None:
        return m["ref"], (int(m["px"]), int(m["py"])), None
    return m["ref"], None, (int(m["x1"]), int(m["y1"]), int(m["x2"]), int(m["y2"]))


def convert_record(rec: dict) -> list[dict]:
    """One annotation -> training rows {"image", "messages"} in normalised coordinates.

    Grounding: {"image", "width", "height", "instruction", "element", "bbox": [x1,y1,x2,y2] | "point": [x,y]}
    Trajectory: {"image", "width", "height", "task", "steps": [{"action", "element", "point"|"bbox"}, ...]}
    (pixel coordinates; a trajectory step with a screenshot of its own may give its own "image").
    """
    size = (rec["width"], rec["height"])

    def locate(item: dict) -> str:
        if "bbox" in item:
            return format_answer(item["element"], box=normalize_box(item["bbox"], size))
        return format_answer(item["element"], point=normalize_point(item["point"], size))

    if "steps" in rec:
        rows, history = [], []
        for i, step in enumerate(rec["steps"], 1):
            prompt = f"Task: {rec['task']}\nPrevious actions: {'; '.join(history) or 'none'}\nStep {i}. Next action?"
            answer = f"{step['action']} {locate(step)}"
            rows.append(
                {
                    "image": step.get("image", rec["image"]),
                    "messages": [
                        {"role": "user", "content": prompt},
                        {"role": "assistant", "content": answer},
                    ],
                }
            )
            history.append(answer)
        return rows
    return [
        {
            "image": rec["image"],
            "messages": [
                {"role": "user", "content": rec["instruction"]},
                {"role": "assistant", "content": locate(rec)},
            ],
        }
    ]


def convert_file(src: str | Path, dst: str | Path) -> dict[str, int]:
    """Convert a JSONL of annotations; a bad line raises ConfigError naming file:line and the field."""
    if not Path(src).is_file():
        raise ConfigError("input", f"annotation file not found: {src}")
    rows, n_in = [], 0
    for n, line in enumerate(Path(src).read_text().splitlines(), 1):
        if not line.strip():
            continue
        n_in += 1
        try:
            rows += convert_record(json.loads(line))
        except KeyError as exc:
            raise ConfigError(f"{src}:{n}", f"missing field {exc.args[0]!r}") from None
        except (ValueError, TypeError, IndexError) as exc:
            raise ConfigError(f"{src}:{n}", str(exc)) from None
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    Path(dst).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {"annotations": n_in, "rows": len(rows)}
