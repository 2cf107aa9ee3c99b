"""`infir synth` through the CLI: the paper's pipelines resolve without their models, a killed run resumes
without regenerating finished shards, and the demo's pipeline runs end to end on real engines (the tiny
trained Llama generates, a toy reward model scores) into SFT-ready records and a reward plot."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infir.cli import main
from infir.paths import DATA_DIR
from infir.recipes.sft_data import read_records

from .helpers import read_dir, write_pipeline, write_rules, write_seeds


def run_cli(*args: str) -> int:
    try:
        main(list(args))
        return 0
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1


@pytest.mark.parametrize("name", ["sft_code", "anneal_math", "sft_general", "sft_math"])
def test_paper_pipelines_dry_run_and_name_their_models(name, capsys):
    assert run_cli("synth", name, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "# missing at run time: engines." in out and "steps:" in out
    assert "backend: vllm" in out  # GPU generation by default on a cluster


def test_a_killed_run_resumes_without_regenerating_finished_shards(tmp_path):
    rules = write_rules(tmp_path / "rules.jsonl", [
        {"match": "slow", "outputs": ["late answer"], "sleep": 60}, {"match": "q", "outputs": ["answer"]}])  # fmt: skip
    cfg = write_pipeline(tmp_path / "p.yaml", {"t": {"backend": "scripted", "model": str(rules)}},
                         [{"type": "answer", "engine": "t"}, {"type": "exact_dedup"}])  # fmt: skip
    write_seeds(tmp_path / "in" / "a.jsonl", ["q a0", "q a1"])
    write_seeds(tmp_path / "in" / "b.jsonl", ["q b0", "slow b1"])
    argv = [sys.executable, "-m", "infir.cli", "synth", str(cfg), "--input", str(tmp_path / "in"), "--output",
            str(tmp_path / "out"), "--quiet"]  # fmt: skip
    proc = subprocess.Popen(
        argv, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    calls = Path(str(rules) + ".calls")
    deadline = time.time() + 120
    while not (calls.exists() and "slow b1" in calls.read_text()) and time.time() < deadline:
        time.sleep(0.2)
    assert (tmp_path / "out" / "_state" / "phase0" / "done" / "a.json").is_file()  # shard a finished
    os.killpg(proc.pid, signal.SIGKILL)  # killed while shard b generates
    proc.wait()
    write_rules(rules, [{"match": "slow", "outputs": ["late answer"]}, {"match": "q", "outputs": ["answer"]}])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    prompts = [json.loads(line) for line in calls.read_text().splitlines()]
    assert (
        sum("q a0" in p for p in prompts) == 1 and sum("q a1" in p for p in prompts) == 1
    )  # not regenerated
    assert sum("q b0" in p for p in prompts) == 2  # shard b started again from its beginning
    fresh = tmp_path / "fresh"
    assert run_cli("synth", str(cfg), "--input", str(tmp_path / "in"), "--output", str(fresh), "--quiet") == 0
    for name in ("a.jsonl", "b.jsonl"):  # the resumed output equals an uninterrupted run's
        assert (tmp_path / "out" / "kept" / name).read_bytes() == (fresh / "kept" / name).read_bytes()


def test_demo_pipeline_on_real_engines_gives_sft_records_and_a_reward_plot(tiny_model, tmp_path):
    from infir.synth.toy import make_toy_reward

    reward = make_toy_reward(tiny_model, tmp_path / "reward")
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("".join((DATA_DIR / "demo" / "synth" / "seeds.jsonl").read_text().splitlines(True)[:6]))
    out = tmp_path / "out"
    code = run_cli("synth", "demo", "--quiet", "--input", str(seeds), "--output", str(out),
                   f"engines.toy.model={tiny_model}", f"engines.reward.model={reward}", "engines.toy.chat=false",
                   "engines.toy.max_new_tokens=12", f"decontam_index={_tiny_index(tmp_path)}")  # fmt: skip
    assert code == 0
    funnel = json.loads((out / "funnel.json").read_text())
    assert funnel["docs_in"] == 6
    kept, rejects = read_dir(out / "kept"), read_dir(out / "rejects")
    assert len(kept) + len(rejects) == 6 and kept, "the threshold keeps some and the funnel counts the rest"
    cut = json.loads((out / "rewards.json").read_text())["threshold"]
    assert cut == 0.25  # conf/synth/demo.yaml's min_score, drawn on the plot
    for doc in kept:  # best of 2 by the reward model, at or above the threshold
        assert len(doc["candidate_rewards"]) <= 2 and doc["reward"] == max(doc["candidate_rewards"])
        assert doc["reward"] >= cut and doc["text"] == f"{doc['prompt']}\n\n{doc['response']}"
    assert all(
        r["_reason"]
        in ("below_reward_threshold", "empty_generation", "exact_duplicate", "benchmark_contamination")
        for r in rejects
    )
    low = [r for r in rejects if r["_reason"] == "below_reward_threshold"]
    assert all(r["reward"] < cut for r in low)
    assert (out / "rewards.png").stat().st_size > 1000 and "## Reward scores" in (
        out / "funnel.md"
    ).read_text()
    records = read_records(out / "kept" / "seeds.jsonl")  # SFT reads the output as it is
    assert len(records) == len(kept) and records[0][-1]["role"] == "assistant"


def _tiny_index(tmp_path: Path) -> Path:
    index = tmp_path / "bench.idx"
    assert run_cli("curate", "build-decontam-index", "--humaneval", "--out", str(index)) == 0
    return index


def test_sft_code_pipeline_runs_with_a_scripted_coder_and_counts_every_failure(tmp_path):
    """conf/synth/sft_code.yaml as shipped, only the coder swapped for canned outputs: the sandbox keeps the
    passing sample, and each bad generation is one counted reason in the funnel."""
    good = ("### Task\nWrite double(x).\n\n### Analysis\nMultiply by two.\n\n### Solution\n```python\n"
            "def double(x):\n    return 2 * x\n```\n\n### Tests\n```python\nassert double(3) == 6\n```\n")  # fmt: skip
    rules = write_rules(tmp_path / "coder.jsonl", [
        {"match": "snippet-good", "outputs": [good]},
        {"match": "snippet-wrong", "outputs": [good.replace("2 * x", "x + 1")]},
        {"match": "snippet-notests", "outputs": [good.split("### Tests")[0]]},
        {"match": "snippet-badtests", "outputs": [good.replace("assert double(3) == 6", "assert double(3) ==")]},
        {"match": "snippet-bytes", "outputs": ["### Task\n\udcff\n"]},
        {"match": "snippet-empty", "outputs": [""]},
        {"match": "snippet-nosol", "outputs": ["### Task\nWrite it.\n\nNo code, sorry."]},
    ])  # fmt: skip
    snippets = tmp_path / "in" / "code.jsonl"
    snippets.parent.mkdir()
    names = ["good", "wrong", "notests", "badtests", "bytes", "empty", "nosol"]
    snippets.write_text(
        "".join(json.dumps({"id": n, "text": f"# snippet-{n}\nx = 1\n"}) + "\n" for n in names)
    )
    out = tmp_path / "out"
    code = run_cli("synth", "sft_code", "--quiet", "--input", str(snippets.parent), "--output", str(out),
                   "engines.coder.backend=scripted", f"engines.coder.model={rules}", "steps.1.timeout_s=5",
                   "steps.1.workers=2", f"decontam_index={_tiny_index(tmp_path)}")  # fmt: skip
    assert code == 0
    steps = {s["step"]: s for s in json.loads((out / "funnel.json").read_text())["steps"]}
    assert steps["answer"]["dropped_docs"] == {
        "empty_generation": 1,
        "not_utf8": 1,
    }  # never reach the sandbox
    assert steps["code_verify"]["dropped_docs"] == {
        "tests_failed": 1, "missing_tests": 1, "unparsable_tests": 1, "missing_solution": 1}  # fmt: skip
    (kept,) = read_dir(out / "kept")
    assert kept["id"] == "good" and kept["prompt"] == "Write double(x)." and "def double" in kept["response"]
