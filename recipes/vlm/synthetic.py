"""Small synthetic image-text data for the tiny stages, rendered with PIL (no downloads).

Stage 1 (captions): coloured shapes with a caption that describes them. Stage 2 (SFT-1): rendered text
("what does the image say?"), GUI grounding (a button to click, answer in [0,1000] coordinates) and some
captions. Stage 3 (SFT-2): GUI trajectories (the next click in a task) plus the stage 2 mix.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from infir.recipes.vlm.gui import format_answer, normalize_box, normalize_point

COLOURS = {"red": (220, 30, 30), "green": (30, 180, 60), "blue": (30, 60, 220), "yellow": (230, 210, 40)}
SHAPES = ("square", "circle", "triangle")
WORDS = ("open", "save", "menu", "close", "send", "next", "back", "home")
SIZE = 64


def _shape(rng: random.Random, folder: Path, i: int) -> tuple[str, str]:
    from PIL import Image, ImageDraw

    colour, shape = rng.choice(list(COLOURS)), rng.choice(SHAPES)
    img = Image.new("RGB", (SIZE, SIZE), "white")
    d = ImageDraw.Draw(img)
    x0, y0 = rng.randint(4, 24), rng.randint(4, 24)
    box = (x0, y0, x0 + rng.randint(20, 36), y0 + rng.randint(20, 36))
    {"square": d.rectangle, "circle": d.ellipse}.get(
        shape, lambda b, fill: d.polygon([(b[0], b[3]), ((b[0] + b[2]) // 2, b[1]), (b[2], b[3])], fill=fill)
    )(box, fill=COLOURS[colour])
    name = f"shape_{i:04d}.png"
    img.save(folder / name)
    return name, f"a {colour} {shape} on a white background"


def _text(rng: random.Random, folder: Path, i: int) -> tuple[str, str]:
    from PIL import Image, ImageDraw

    word = rng.choice(WORDS)
    img = Image.new("RGB", (SIZE, SIZE), "white")
    ImageDraw.Draw(img).text((rng.randint(2, 30), rng.randint(2, 50)), word, fill="black")
    name = f"text_{i:04d}.png"
    img.save(folder / name)
    return name, word


def _gui(rng: random.Random, folder: Path, i: int) -> tuple[str, str, tuple[int, int]]:
    """A toy screen with two labelled buttons; returns the target label and its centre in pixels."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (SIZE, SIZE), (235, 235, 235))
    d = ImageDraw.Draw(img)
    labels = rng.sample(WORDS, 2)
    centres = []
    for k, label in enumerate(labels):
        x0, y0 = rng.randint(2, 30), 4 + 30 * k
        d.rectangle((x0, y0, x0 + 30, y0 + 14), fill=(70, 110, 200))
        d.text((x0 + 2, y0 + 2), label, fill="white")
        centres.append((x0 + 15, y0 + 7))
    k = rng.randrange(2)
    name = f"gui_{i:04d}.png"
    img.save(folder / name)
    return name, labels[k], centres[k]


def make_tiny_data(out: str | Path, n: int = 24, seed: int = 0) -> dict[str, Path]:
    """Write images/ and captions.jsonl, sft1.jsonl, sft2.jsonl under `out`, and screenspot.jsonl (held-out
    screens: {image, instruction, bbox in [0,1000]}, the ScreenSpot layout); returns the four paths."""
    rng = random.Random(seed)
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[dict]] = {"captions": [], "sft1": [], "sft2": [], "screenspot": []}
    held = random.Random(seed + 1)  # its own stream: the training splits stay what they were
    for i in range(n):
        name, caption = _shape(rng, out / "images", i)
        rows["captions"].append({"image": f"images/{name}", "text": caption})
        name, word = _text(rng, out / "images", i)
        ocr = {
            "image": f"images/{name}",
            "messages": [
                {"role": "user", "content": "What does the image say?"},
                {"role": "assistant", "content": word},
            ],
        }
        name, label, (x, y) = _gui(rng, out / "images", i)
        point = normalize_point((x, y), (SIZE, SIZE))
        ground = {
            "image": f"images/{name}",
            "messages": [
                {"role": "user", "content": f"Click the '{label}' button."},
                {"role": "assistant", "content": format_answer(f"the '{label}' button", point=point)},
            ],
        }
        step = {
            "image": f"images/{name}",
            "messages": [
                {"role": "user", "content": f"Task: {label} the document. Step 1. Next action?"},
                {
                    "role": "assistant",
                    "content": "click " + format_answer(f"the '{label}' button", point=point),
                },
            ],
        }
        rows["sft1"] += [ocr, ground] + ([rows["captions"][-1]] if i % 3 == 0 else [])
        rows["sft2"] += [step, ground]
        # a screen no stage trains on; its target box is the button drawn around the centre (30 x 14 px)
        name, label, (x, y) = _gui(held, out / "images", n + i)
        box = normalize_box((x - 15, y - 7, x + 15, y + 7), (SIZE, SIZE))
        rows["screenspot"].append({"image": f"images/{name}", "instruction": f"Click the '{label}' button.",
                                   "bbox": list(box)})  # fmt: skip
    paths = {}
    for key, items in rows.items():
        paths[key] = out / f"{key}.jsonl"
        paths[key].write_text("".join(json.dumps(r) + "\n" for r in items))
    return paths
