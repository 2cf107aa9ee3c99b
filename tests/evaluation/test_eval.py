"""Eval metrics on a tiny trained Llama and real HumanEval items (tiny_model fixture in conftest.py)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from infir.evaluation import choice, codeexec, nll, report, shipped, suites, valset
from infir.evaluation.cli import app
from infir.evaluation.model import load_lm

REPO = Path(__file__).resolve().parents[2]
VALID = REPO / "data" / "demo" / "valid"
MC = REPO / "data" / "eval" / "mc_handwritten.jsonl"


def test_web_nll_matches_hf_loss(tiny_model):
    res = nll.web_nll(tiny_model, VALID, max_docs=2, seq_len=64, batch_size=4)
    assert res["docs"] == 2 and res["tokens"] > 100
    # trained: well below a uniform guess over the vocabulary
    lm = load_lm(tiny_model)
    assert res["nll_per_token"] < math.log(lm.tokenizer.vocab_size) - 0.5
    # token-weighted NLL equals HF's own mean loss over the same windows (first window of one short doc)
    text = "def add(a, b):\n    return a + b\n"
    ids = torch.tensor([[lm.prefix_id] + lm.encode(text)])
    hf_loss = lm.model(input_ids=ids, labels=ids).loss.item()
    ((total, count),) = nll.doc_nll(lm, [text], seq_len=64)
    assert count == ids.shape[1] - 1
    assert total / count == pytest.approx(hf_loss, rel=1e-4)


def _real_mmlu(tmp_path: Path) -> Path:
    """Real MMLU items from lm-eval's wheel, the five-choice one first (k is not always 4)."""
    rows = shipped.mmlu()
    rows.sort(key=lambda r: -len(r["choices"]))
    path = tmp_path / "mmlu_shipped.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows[:3]))
    return path


@pytest.mark.parametrize("source", ["handwritten", "real_mmlu"])
def test_normalised_choice_matches_hand_computation(tiny_model, tmp_path, source):
    lm = load_lm(tiny_model)
    data = MC if source == "handwritten" else _real_mmlu(tmp_path)
    res = choice.evaluate_choice(lm, data, max_items=2)
    # by hand from raw logits: s_i = sum over the choice's tokens of log softmax(logits)[next token]
    question, choices, gold = choice.parse_item(json.loads(data.open().readline()))
    assert len(choices) == (4 if source == "handwritten" else 5)
    prompt = f"Question: {question}\nAnswer:"
    s = []
    for c in choices:
        ctx = [lm.prefix_id] + lm.encode(prompt)
        cont = lm.encode(" " + c)
        ids = torch.tensor([ctx + cont])
        logits = lm.model(input_ids=ids).logits[0].double()
        lp = 0.0
        for j, tok in enumerate(cont):
            row = logits[len(ctx) - 1 + j]
            lp += (row[tok] - torch.logsumexp(row, 0)).item()
        s.append(lp)
    p_gold = math.exp(s[gold]) / sum(math.exp(x) for x in s)
    item = res["per_item"][0]
    assert item["scores"] == pytest.approx(s, abs=1e-3)
    assert item["p_gold"] == pytest.approx(p_gold, rel=1e-3)
    assert item["pred"] == int(np.argmax(s))
    assert res["items"] == 2 and 0.0 <= res["accuracy"] <= 1.0
    assert res["choice_nll"] == pytest.approx(-np.mean([math.log(it["p_gold"]) for it in res["per_item"]]))
    # the length-normalised option divides by token counts, so its scores differ
    mean = choice.evaluate_choice(lm, data, score="mean", max_items=1)
    n_tok = [len(lm.encode(" " + c)) for c in choices]
    assert mean["per_item"][0]["scores"] == pytest.approx([a / n for a, n in zip(s, n_tok)], abs=1e-3)


def test_choice_bad_input_names_line(tmp_path):
    bad = tmp_path / "mc.jsonl"
    bad.write_text(
        '{"question": "q", "choices": ["a", "b"], "answer": 0}\n{"question": "q", "choices": ["a"]}\n'
    )
    with pytest.raises(ValueError, match=r"mc.jsonl:2: field 'choices'"):
        [choice.parse_item(r) for r in nll.read_jsonl(bad, "choices", typed=False)]


def test_humaneval_execution_real_items():
    problems = codeexec.read_problems()
    assert len(problems) == 164
    ids = ["HumanEval/0", "HumanEval/2", "HumanEval/4"]
    good = codeexec.check_completions(problems, {t: problems[t]["canonical_solution"] for t in ids})
    assert good["pass@1"] == 1.0 and good["passed"] == 3
    wrong = {"HumanEval/0": "    return not False\n", "HumanEval/2": "    while True:\n        pass\n"}
    res = codeexec.check_completions(problems, wrong, timeout_s=2.0)
    status = {r["task_id"]: r["status"] for r in res["per_task"]}
    assert status == {"HumanEval/0": "failed", "HumanEval/2": "timeout"}
    assert res["pass@1"] == 0.0
    net = codeexec.run_program("net", "import socket\nsocket.create_connection(('127.0.0.1', 9))\n")
    assert net.status == "failed"  # the sandbox has no network (tests/evaluation/test_sandbox.py)


def test_humaneval_generation_suite(tiny_model, tmp_path):
    cfg = suites.load_suite("humaneval", ["limit=2", "max_new_tokens=8"])
    res = suites.run_suite(cfg, tiny_model, tmp_path)
    assert res["problems"] == 2 and res["passed"] + res["failed"] + res["timeout"] == 2
    assert (tmp_path / "humaneval.json").is_file() and (tmp_path / "humaneval.md").is_file()


def test_valset_drops_worst_fifth(tiny_model, tmp_path):
    src = tmp_path / "web.jsonl"
    rng = np.random.default_rng(0)
    texts = [json.loads(x)["text"][:300] for f in sorted(VALID.glob("*.jsonl")) for x in f.open()][:8]
    docs = [{"id": f"d{i}", "text": t} for i, t in enumerate(texts)]
    # two meaningless texts: random characters, which the trained model ranks worst
    docs += [{"id": f"junk{i}", "text": "".join(rng.choice(list("qzx#@%&$^~"), 300))} for i in range(2)]
    src.write_text("".join(json.dumps(d) + "\n" for d in docs))
    summary = valset.build_valset(src, tiny_model, tmp_path / "valid.jsonl", seq_len=64)
    assert summary["docs"] == 10 and summary["kept"] == 8 and summary["dropped"] == 2
    dropped = [json.loads(x) for x in (tmp_path / "valid.dropped.jsonl").read_text().splitlines()]
    assert {d["id"] for d in dropped} == {"junk0", "junk1"}
    kept = [json.loads(x) for x in (tmp_path / "valid.jsonl").read_text().splitlines()]
    assert max(k["valset_nll"] for k in kept) < min(d["valset_nll"] for d in dropped)


def test_suites_report_compare_and_cli(tiny_model, tmp_path):
    runner = CliRunner()
    dirs = []
    for name, seq in (("ckpt_a", 32), ("ckpt_b", 64)):
        out = tmp_path / name
        r = runner.invoke(app, ["web_nll", "--model", str(tiny_model), "--output", str(out), "limit=2",
                                f"seq_len={seq}"])  # fmt: skip
        assert r.exit_code == 0, r.output
        r = runner.invoke(app, ["choice", "--model", str(tiny_model), "--output", str(out), "limit=2"])
        assert r.exit_code == 0, r.output
        dirs.append(out)
    metrics = report.load_results(dirs[0])
    assert metrics["web_nll"]["nll_per_token"] > 0 and "accuracy" in metrics["choice"]
    png = tmp_path / "cmp.png"
    r = runner.invoke(app, ["compare", *map(str, dirs), "--out", str(png)])
    assert r.exit_code == 0, r.output
    assert png.stat().st_size > 5000 and png.read_bytes()[:4] == b"\x89PNG"
    assert "web_nll/nll_per_token" in png.with_suffix(".md").read_text()


def test_cli_dry_run_and_config_errors():
    runner = CliRunner()
    r = runner.invoke(app, ["web_nll", "--dry-run", "seq_len=256"])
    assert r.exit_code == 0 and "seq_len: 256" in r.output
    r = runner.invoke(app, ["harness_gsm8k", "--dry-run"])
    assert r.exit_code == 0 and "num_fewshot: 8" in r.output
    with pytest.raises(suites.ConfigError, match="score"):
        suites.load_suite("choice", ["score=median"])
    with pytest.raises(suites.ConfigError, match="no eval config named .no_such_suite."):
        suites.load_suite("no_such_suite")


def test_answer_nll_on_real_humaneval_items(tiny_model, tmp_path):
    cfg = suites.load_suite("answer_nll_humaneval", ["limit=3"])
    res = suites.run_suite(cfg, tiny_model, tmp_path)
    assert res["items"] == 3 and res["answer_tokens"] > 30
    # equals the summed token NLL of the canonical solutions, computed pairwise by hand
    lm = load_lm(tiny_model)
    problems = list(codeexec.read_problems().values())[:3]
    total, count = 0.0, 0
    for p in problems:
        ctx = [lm.prefix_id] + lm.encode(p["prompt"].rstrip())
        cont = lm.encode(p["prompt"][len(p["prompt"].rstrip()) :] + p["canonical_solution"])
        # over-long pairs keep the last max_len + 1 tokens (the context is cut from the left)
        ids = torch.tensor([(ctx + cont)[-(lm.max_len + 1) :]])
        n_ctx = ids.shape[1] - len(cont)
        logp = torch.log_softmax(lm.model(input_ids=ids).logits[0, :-1].double(), -1)
        lp = logp[torch.arange(n_ctx - 1, ids.shape[1] - 1), ids[0, n_ctx:]]
        total -= lp.sum().item()
        count += len(cont)
    assert res["answer_tokens"] == count
    assert res["answer_nll_per_token"] == pytest.approx(total / count, rel=1e-4)


@pytest.mark.gpu
def test_cuda_scores_match_cpu(tiny_model):
    cpu = load_lm(tiny_model, device="cpu")
    gpu = load_lm(tiny_model, device="cuda", dtype="float32")
    texts = [json.loads(x)["text"][:500] for x in next(VALID.glob("*.jsonl")).open()][:2]
    for (a, n), (b, m) in zip(nll.doc_nll(cpu, texts, 64), nll.doc_nll(gpu, texts, 64)):
        assert n == m and a == pytest.approx(b, rel=1e-3)


def test_compare_with_the_papers_table(tmp_path):
    """`infir eval compare --paper table1_base_fewshot DIR`: our suite results beside Table 1, with deltas;
    benchmarks without a suite or not run are labelled, never dropped; bad input is one line."""
    import subprocess
    import sys

    res_dir = tmp_path / "eval"
    report.write_results(res_dir, "humaneval", "m", {"pass@1": 0.25, "problems": 164})
    report.write_results(res_dir, "harness_mmlu", "m", {"acc": 0.5})
    out = tmp_path / "cmp.png"
    cmd = [
        sys.executable,
        "-m",
        "infir.cli",
        "eval",
        "compare",
        "--paper",
        "table1_base_fewshot",
        str(res_dir),
    ]
    proc = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = {ln.split("|")[1].strip(): ln for ln in proc.stdout.splitlines() if ln.startswith("| ")}
    assert "| 37.80 | 25.00 | -12.80 | humaneval |" in lines["HumanEval"]
    assert "| 47.24 | 50.00 | +2.76 | harness_mmlu |" in lines["MMLU"]
    assert (
        "not run" in lines["GSM8K"]
        and "not run" in lines["MBPP (EvalPlus)"]
        and "mbpp_plus" in lines["MBPP (EvalPlus)"]
    )
    assert out.stat().st_size > 0 and out.with_suffix(".md").read_text().count("\n| ") == 2 + 6  # head + rows
    bad = subprocess.run(
        [*cmd[:-3], "--paper", "table9", str(res_dir)], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "table9" in bad.stderr and "Traceback" not in bad.stderr


def test_bad_eval_input_is_one_line_through_the_cli(tiny_model, tmp_path):
    """A folder without weights, a missing folder, a malformed data line, a missing data file: each is one
    line naming the file (and line) with exit status 2, no traceback, and no result file written."""
    import shutil
    import subprocess
    import sys

    no_weights = tmp_path / "no_weights"
    shutil.copytree(tiny_model, no_weights)
    for w in no_weights.glob("*.safetensors"):
        w.unlink()
    good = tmp_path / "mc.jsonl"
    good.write_text('{"question": "q?", "choices": ["a", "b"], "answer": 0}\n')
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q?", "choices": ["a", "b"], "answer": 0}\nnot json\n')
    out = tmp_path / "results"
    cases = {
        "no weights": ([f"--model={no_weights}", f"--data={good}"], f"{no_weights}: no weights"),
        "no folder": (
            [f"--model={tmp_path / 'nope'}", f"--data={good}"],
            f"{tmp_path / 'nope'}: no such folder",
        ),
        "bad line": ([f"--model={tiny_model}", f"--data={bad}"], f"{bad}:2: invalid JSON"),
        "no data": (
            [f"--model={tiny_model}", f"--data={tmp_path / 'gone.jsonl'}"],
            "gone.jsonl: file not found",
        ),
    }
    for name, (args, message) in cases.items():
        cmd = [sys.executable, "-m", "infir.cli", "eval", "choice", *args, f"--output={out}"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], (name, proc.stderr[-1500:])
        assert not out.exists() or not any(out.iterdir()), name  # nothing half-written


def test_valset_drops_only_what_every_model_ranks_worst(tiny_model, tmp_path):
    """The paper: the texts are ranked "separately" by several LLMs, and "when a text ranks in the bottom 20%
    across all rankings" it is discarded: a text worst for one model but not for another stays."""
    import torch
    from transformers import AutoModelForCausalLM

    a = np.array([9.0, 8.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])  # worst 20%: texts 0, 1
    b = np.array([9.0, 1.0, 8.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])  # worst 20%: texts 0, 2
    assert valset.worst_in_every_ranking([a, b], 0.2).tolist() == [True] + [False] * 9
    assert valset.worst_in_every_ranking([a], 0.2).sum() == 2
    # the trained model and an untrained one of the same shape rank the texts differently
    other = tmp_path / "untrained"
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    AutoModelForCausalLM.from_config(model.config).save_pretrained(other)
    (other / "tokenizer.json").write_bytes((Path(tiny_model) / "tokenizer.json").read_bytes())
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        if (Path(tiny_model) / name).is_file():
            (other / name).write_bytes((Path(tiny_model) / name).read_bytes())
    src = tmp_path / "web.jsonl"
    texts = [json.loads(x)["text"][:300] for f in sorted(VALID.glob("*.jsonl")) for x in f.open()][:10]
    src.write_text("".join(json.dumps({"id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(texts)))
    one = valset.build_valset(src, tiny_model, tmp_path / "one.jsonl", seq_len=64)
    both = valset.build_valset(src, [tiny_model, other], tmp_path / "both.jsonl", seq_len=64)
    dropped_one = {json.loads(x)["id"] for x in (tmp_path / "one.dropped.jsonl").read_text().splitlines()}
    dropped_both = {json.loads(x)["id"] for x in (tmp_path / "both.dropped.jsonl").read_text().splitlines()}
    assert one["dropped"] == 2 and dropped_both <= dropped_one and both["docs"] == 10
    kept = [json.loads(x) for x in (tmp_path / "both.jsonl").read_text().splitlines()]
    assert all(len(k["valset_nll"]) == 2 for k in kept)
