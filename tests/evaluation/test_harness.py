"""lm-evaluation-harness on local files with the tiny trained model (slow: lm-eval's startup is heavy)."""

import json
from pathlib import Path

import pytest

from infir.evaluation import harness, shipped

MC = Path(__file__).resolve().parents[2] / "data" / "eval" / "mc_handwritten.jsonl"


def test_task_config_points_at_local_files(tmp_path):
    f = tmp_path / "t.jsonl"
    f.write_text("{}\n")
    cfg = harness.task_config("mmlu", f, None, 5)
    assert cfg["dataset_path"] == "json" and cfg["dataset_kwargs"]["data_files"]["test"] == str(f)
    assert cfg["num_fewshot"] == 5 and cfg["output_type"] == "multiple_choice"
    with pytest.raises(FileNotFoundError, match="local dataset file"):
        harness.task_config("gsm8k", tmp_path / "missing.jsonl", None, 8)


@pytest.mark.slow
def test_harness_mmlu_style_on_tiny_model(tiny_model, tmp_path):
    # hand-written items in MMLU's layout (data/eval/README.md), not real MMLU questions
    rows = [json.loads(x) for x in MC.open()]
    test = tmp_path / "test.jsonl"
    test.write_text("".join(json.dumps({"question": r["question"], "choices": r["choices"],
                                        "answer": "ABCD".index(r["answer"]) if isinstance(r["answer"], str) else r["answer"]}) + "\n"
                            for r in rows))  # fmt: skip
    res = harness.run_harness(tiny_model, "mmlu", test, num_fewshot=2, limit=3, batch_size=4, device="cpu")
    assert res["items"] == 3 and 0.0 <= res["acc"] <= 1.0 and res["num_fewshot"] == 2


@pytest.mark.slow
@pytest.mark.parametrize("benchmark", ["gsm8k", "math", "mbpp"])
def test_harness_generation_on_real_items(tiny_model, tmp_path, benchmark):
    # real items that lm-eval's wheel ships (shipped.py): test on the last ones, few-shot from the first
    (path,) = shipped.export(tmp_path, [benchmark]).values()
    rows = path.read_text().splitlines()
    test, shots = tmp_path / "test.jsonl", tmp_path / "train.jsonl"
    test.write_text("\n".join(rows[-2:]) + "\n")
    shots.write_text("\n".join(rows[:1]) + "\n")
    res = harness.run_harness(tiny_model, benchmark, test, shots, num_fewshot=1, limit=2, batch_size=2,
                              max_gen_toks=24, device="cpu")  # fmt: skip
    assert res["items"] == 2 and res["num_fewshot"] == 1 and len(res["samples"]) == 2
    # a 2-layer toy model gets nothing right; the point is that each scorer ran on every item
    if benchmark == "mbpp":
        assert res["passed"] == 0 and res["pass@1"] == 0.0
    else:
        key = "exact_match" if benchmark == "math" else "exact_match_strict-match"
        assert res[key] == 0.0
