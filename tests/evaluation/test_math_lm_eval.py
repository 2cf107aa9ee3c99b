"""`infir eval`'s MATH equals lm-eval's own minerva_math: the same prompts, the same greedy outputs, and
the same `math_verify` score, per item on a real run and per output on a set of right, re-spelt and wrong
answers. lm-eval's side runs in its own process (lm_eval_minerva_ref.py) because its minerva_math module
needs antlr4 4.11, which cannot share a process with hydra's 4.9 pin."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infir.evaluation import harness, math_answer, shipped

REPO = Path(__file__).resolve().parents[2]
ANTLR_4_11 = REPO / ".venv" / "opt" / "antlr4-4.11"  # scripts/setup.sh puts it there
REF = Path(__file__).with_name("lm_eval_minerva_ref.py")

# per shipped item (answers [2,5), 24, 16, -2/3): outputs a model could give, right and wrong; "So the
# determinant is $24$." has no boxed or Final Answer line: lm-eval's math_verify still finds 24, our
# exact_match does not (it scores the answer the prompt asked for), so the two metrics cannot be swapped
CANDIDATES = {
    0: ["Final Answer: The final answer is $[2,5)$. I hope it is correct.", "so $x\\in\\boxed{[2,5]}$", ""],
    1: ["$\\det(AB) = 2 \\cdot 12 = \\boxed{24}.$", "Final Answer: The final answer is $25$. I hope it is correct.",
        "\\boxed{24.0}", "Problem: \\boxed{", "So the determinant is $24$."],
    2: ["He must lift them $n=\\boxed{16}$ times.", "Final Answer: The final answer is $\\frac{32}{2}$. I hope it "
        "is correct.", "\\boxed{15}", "sixteen \ud800 times"],
    3: ["\\boxed{-\\frac{2}{3}}", "Final Answer: The final answer is $-\\frac{4}{6}$. I hope it is correct.",
        "$\\boxed{\\frac{2}{3}}$", "\\boxed{-0.6666666666666666}"],
}  # fmt: skip


@pytest.mark.slow
def test_math_equals_lm_evals_minerva_math(tiny_model, tmp_path):
    if not (ANTLR_4_11 / "antlr4").is_dir():
        pytest.fail(f"{ANTLR_4_11} missing: scripts/setup.sh installs antlr4 4.11 there for lm-eval's MATH")
    items = shipped.export(tmp_path, ["math"])["math"]  # lm-eval's 4 Minerva exemplars, real MATH items
    docs = [json.loads(line) for line in items.read_text().splitlines()]
    test = tmp_path / "math_test.jsonl"
    test.write_text(items.read_text())
    # lm-eval's minerva_math always shows its 4 fixed exemplars; ours reads the same 4 as its few-shot file
    # (so each item is among its own shots on both sides: this test compares protocols, not the model)
    ours = harness.run_harness(
        tiny_model, "math", test, items, limit=4, batch_size=4, max_gen_toks=24, device="cpu"
    )
    candidates = [(docs[i], out) for i, outs in CANDIDATES.items() for out in outs]
    args = tmp_path / "ref_args.json"
    args.write_text(json.dumps({"model": str(tiny_model), "test_file": str(test), "limit": 4, "max_gen_toks": 24,
                                "candidates": candidates}))  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": str(ANTLR_4_11),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    subprocess.run([sys.executable, str(REF), str(args), str(tmp_path / "ref.json")], env=env, check=True,
                   cwd=tmp_path, timeout=600)  # fmt: skip
    ref = json.loads((tmp_path / "ref.json").read_text())
    assert ref["antlr4"] == "4.11.0"

    theirs = {s["doc_id"]: s for s in ref["samples"]}
    assert ours["items"] == len(theirs) == 4 and ours["num_fewshot"] == 4
    for sample in ours["samples"]:
        want = theirs[sample["doc_id"]]
        assert sample["prompt"] == harness._prompt(want) and sample["prompt"].count("Problem:\n") == 5
        assert sample["output"] == want["output"]
        mine = math_answer.process_results(docs[sample["doc_id"]], [sample["output"]])
        assert mine["math_verify"] == want["math_verify"], sample
    assert ours["math_verify"] == ref["results"]["math_verify,none"]

    # the scorer on given outputs: lm-eval's math_verify, output by output
    got = [math_answer.process_results(doc, [out]) for doc, out in candidates]
    assert [g["math_verify"] for g in got] == [r["math_verify"] for r in ref["scored"]]
    assert {r["math_verify"] for r in ref["scored"]} == {
        0,
        1,
    }  # both outcomes occur: equality means something
    # our exact_match (the answer, by value) accepts every answer lm-eval's exact_match accepts
    assert all(g["exact_match"] >= r["exact_match"] for g, r in zip(got, ref["scored"], strict=True))
