"""MMMU: MMMU's response parsing on hand cases, scoring of a predictions file (JSONL and the HF Parquet
layout), bad input named by file and line, generation by the tiny CPU VLM, and the paper comparison."""

import json
import subprocess
import sys

import pytest

from infir.config import ConfigError
from infir.recipes.vlm import mmmu

OPTIONS = ["a red square", "a blue circle", "a green triangle", "a yellow star"]


@pytest.mark.parametrize(
    ("response", "letter"),
    [
        ("(B)", "B"),
        ("B", "B"),
        ("The answer is C.", "C"),
        ("(A) is tempting, but the answer is (D)", "D"),  # several hits: the last one
        (
            "I think it shows a green triangle in the corner of the image",
            "C",
        ),  # > 5 words: by the option's text
        ("a green triangle", None),  # option text in a short response: MMMU does not read it
        ("I cannot tell.", None),
        ("", None),
        ("E", None),  # not one of the four letters
    ],
)
def test_parse_choice_follows_mmmu(response, letter):
    assert mmmu.parse_choice(response, OPTIONS) == letter


@pytest.mark.parametrize(
    ("gold", "response", "ok"),
    [
        ("3.14", "The area is 3.14", 1.0),
        ("3.14", "So the answer is 3.140.", 1.0),
        ("1,000", "Therefore the total is 1000", 1.0),
        ("3.14", "The area is 3.15", 0.0),
        ("photosynthesis", "This process is Photosynthesis", 1.0),
        ("['24/7', '3.43']", "the ratio is 3.43", 1.0),
        ("42", "", 0.0),
    ],
)
def test_open_answers_by_value_or_text(gold, response, ok):
    item = {"id": "validation_Math_1", "question_type": "open", "answer": gold, "options": []}
    assert mmmu.is_correct(item, response) == ok


def _item(i: int, answer: str, subject: str = "Art", qtype: str = "multiple-choice", **extra) -> dict:
    return {"id": f"validation_{subject}_{i}", "question": f"<image 1> What is shown? ({i})",
            "options": str(OPTIONS) if qtype == "multiple-choice" else "[]", "answer": answer,
            "question_type": qtype, "image_1": "images/x.png", **extra}  # fmt: skip


ITEMS = [
    _item(1, "A"),
    _item(2, "B"),
    _item(3, "C"),
    _item(4, "D", "Art_Theory"),
    _item(5, "7", "Math", "open"),
]
RESPONSES = {"validation_Art_1": "(A)", "validation_Art_2": "(C)", "validation_Art_3": "no idea",
             "validation_Math_5": "The answer is 7."}  # fmt: skip


def test_scores_a_predictions_file_as_mmmu_does(tmp_path):
    data, preds = tmp_path / "mmmu.jsonl", tmp_path / "preds.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ITEMS))
    preds.write_text("".join(json.dumps({"id": k, "response": v}) + "\n" for k, v in RESPONSES.items()))
    res = mmmu.run_suite({"kind": "mmmu", "data": str(data), "predictions": str(preds)}, None, tmp_path)
    # right, wrong, unparsed (MMMU's random guess: 1/4 expected), missing (0), open right
    assert res["accuracy"] == pytest.approx((1 + 0 + 0.25 + 0 + 1) / 5)
    assert (res["n"], res["unparsed"], res["missing"]) == (5, 1, 1)
    assert res["accuracy_per_subject"] == pytest.approx({"Art": 1.25 / 3, "Art_Theory": 0.0, "Math": 1.0})

    # the HF dataset's Parquet layout (options as a string, images as {bytes, path} structs) reads the same
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{**r, "image_1": {"bytes": b"\x89PNG", "path": "x.png"}} for r in ITEMS]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "validation-00000-of-00001.parquet")
    res_pq = mmmu.run_suite({"kind": "mmmu", "data": str(tmp_path / "validation-00000-of-00001.parquet"),
                             "predictions": str(preds)}, None, tmp_path)  # fmt: skip
    assert res_pq == res


def test_bad_input_names_the_file_and_line(tmp_path):
    data = tmp_path / "mmmu.jsonl"
    data.write_text(json.dumps(ITEMS[0]) + "\n" + json.dumps({**ITEMS[1], "options": "[unclosed"}) + "\n")
    with pytest.raises(ConfigError, match=r"mmmu.jsonl:2.*options"):
        mmmu.read_items(data)
    data.write_text(json.dumps({**ITEMS[0], "question_type": "essay"}) + "\n")
    with pytest.raises(ConfigError, match=r"mmmu.jsonl:1.*question_type"):
        mmmu.read_items(data)
    data.write_text(json.dumps(ITEMS[0]) + "\n")
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps({"id": "validation_Art_1"}) + "\n")
    with pytest.raises(ConfigError, match=r"p.jsonl:1.*response"):
        mmmu.run_suite({"kind": "mmmu", "data": str(data), "predictions": str(preds)}, None, tmp_path)
    with pytest.raises(ConfigError, match="predictions"):
        mmmu.run_suite({"kind": "mmmu", "data": str(data)}, None, tmp_path)


def test_tiny_cpu_vlm_answers_mmmu_items(tiny_run, tmp_path):
    """The stage-3 toy checkpoint writes one response per item (MMMU's prompt, image_1), then it is scored."""
    out, _, _ = tiny_run
    items = [
        _item(i, "ABCD"[i % 4], image_1=str(next((out / "data" / "images").glob("*.png")))) for i in range(3)
    ]
    data = tmp_path / "mmmu.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in items))
    res = mmmu.run_suite({"kind": "mmmu", "data": str(data)}, str(out / "vlm_stage3_full_tiny"), tmp_path)
    written = [json.loads(x) for x in (tmp_path / "mmmu_predictions.jsonl").read_text().splitlines()]
    assert [w["id"] for w in written] == [i["id"] for i in items] and res["missing"] == 0
    assert res == {**res, **mmmu.score(mmmu.read_items(data), {w["id"]: w["response"] for w in written})}


def test_eval_cli_and_paper_comparison(tmp_path):
    data, preds, out = tmp_path / "mmmu.jsonl", tmp_path / "preds.jsonl", tmp_path / "eval"
    data.write_text("".join(json.dumps(r) + "\n" for r in ITEMS))
    preds.write_text("".join(json.dumps({"id": k, "response": v}) + "\n" for k, v in RESPONSES.items()))
    cmd = [sys.executable, "-m", "infir.cli", "eval"]
    run = subprocess.run([*cmd, "mmmu", "--data", str(data), "--output", str(out), f"predictions={preds}"],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    cmp = subprocess.run(
        [*cmd, "compare", "--paper", "vlm", str(out)], capture_output=True, text=True, timeout=120
    )
    assert cmp.returncode == 0, cmp.stderr
    lines = {ln.split("|")[1].strip(): ln for ln in cmp.stdout.splitlines() if ln.startswith("| ")}
    assert "| 38.80 | 45.00 | +6.20 | mmmu |" in lines["MMMU"]
    assert "not run" in lines["ScreenSpot"] and "no suite" in lines["AndroidWorld"]
