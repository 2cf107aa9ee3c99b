"""GUI coordinates: [0,1000] ints, round trip within one pixel, reference-augmented answers, conversion."""

import json
import random

import pytest

from infir.config import ConfigError
from infir.recipes.vlm.gui import (
    convert_file,
    denormalize,
    format_answer,
    normalize,
    normalize_box,
    normalize_point,
    parse_answer,
)


def test_round_trip_property_cases():
    rng = random.Random(7)
    for _ in range(2000):
        w, h = rng.randint(1, 4000), rng.randint(1, 4000)
        pt = (rng.uniform(0, w), rng.uniform(0, h))
        n = normalize_point(pt, (w, h))
        assert all(isinstance(v, int) and 0 <= v <= 1000 for v in n)
        back = denormalize(n, (w, h))
        # rounding to 1/1000 of the side: at most half a unit, i.e. max(1 px, side/2000)
        assert abs(back[0] - pt[0]) <= max(1.0, w / 2000) and abs(back[1] - pt[1]) <= max(1.0, h / 2000)


def test_hand_cases_and_clipping():
    assert normalize_point((0, 0), (1920, 1080)) == (0, 0)
    assert normalize_point((1920, 1080), (1920, 1080)) == (1000, 1000)
    assert normalize_point((960, 540), (1920, 1080)) == (500, 500)
    assert normalize_box((10, 20, 2000, -5), (1000, 500)) == (10, 40, 1000, 0)
    assert denormalize([500, 250], (800, 400)) == [400.0, 100.0]
    with pytest.raises(ValueError):
        normalize((1, 1), (0, 10))


def test_answer_format_round_trip():
    a = format_answer("the 'save' button", point=(412, 87))
    assert a == "<ref>the 'save' button</ref><point>(412,87)</point>"
    assert parse_answer("click " + a) == ("the 'save' button", (412, 87), None)
    b = format_answer("search field", box=(1, 2, 3, 4))
    assert parse_answer(b) == ("search field", None, (1, 2, 3, 4))
    with pytest.raises(ValueError):
        parse_answer("click somewhere")
    with pytest.raises(ValueError):
        format_answer("x")


def test_convert_file_grounding_and_trajectory(tmp_path):
    src = tmp_path / "ann.jsonl"
    rows = [
        {
            "image": "s.png",
            "width": 200,
            "height": 100,
            "instruction": "Open settings",
            "element": "the gear icon",
            "bbox": [20, 10, 40, 30],
        },
        {
            "image": "t.png",
            "width": 400,
            "height": 400,
            "task": "send a mail",
            "steps": [
                {"action": "click", "element": "compose", "point": [100, 200]},
                {"action": "click", "element": "send", "point": [399, 1], "image": "t2.png"},
            ],
        },
    ]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    stats = convert_file(src, tmp_path / "out.jsonl")
    assert stats == {"annotations": 2, "rows": 3}
    out = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert out[0]["messages"][1]["content"] == "<ref>the gear icon</ref><box>(100,100),(200,300)</box>"
    assert out[1]["messages"][1]["content"] == "click <ref>compose</ref><point>(250,500)</point>"
    assert out[2]["image"] == "t2.png" and "compose" in out[2]["messages"][0]["content"]
    assert parse_answer(out[2]["messages"][1]["content"])[1] == (998, 2)


def test_convert_bad_line_names_file_line_field(tmp_path):
    src = tmp_path / "bad.jsonl"
    src.write_text('{"image": "a.png", "width": 10, "height": 10, "instruction": "x", "element": "y"}\n')
    with pytest.raises(ConfigError, match=r"bad.jsonl:1.*'point'"):
        convert_file(src, tmp_path / "o.jsonl")
