"""Long-CoT SFT selection (curation/long_cot.py), through `infir curate select-long-cot`.

The paper: "2M samples selected from NuminaMath-QwQ-CoT-5M; a 200K subset by s1-style difficulty and
diversity sampling" (docs/PAPER.md section 4). s1 samples a domain uniformly at random, then a problem
favouring longer reasoning traces, after dropping problems models already solve."""

import json
import subprocess
import sys
from collections import Counter

from infir.curation.long_cot import LongCoTConfig, diversity_sample
from infir.recipes.sft_data import read_records

DOMAINS = ["olympiads", "cn_k12", "amc_aime", "synthetic_math"]


def _trace(i: int, words: int) -> str:
    return f"<think>Let me work through problem {i}. " + "step " * words + f"</think> So \\boxed{{{i}}}."


def _write(path, n=240):
    lines = []
    for i in range(n):
        domain = DOMAINS[i % 4] if i < 200 else "olympiads"  # olympiads has the most problems
        rec = {"problem": f"Problem {i}: find x if x + {i} = {2 * i}.", "response": _trace(i, 5 + (i * 37) % 400),
               "source": domain, "pass_rate": 0.9 if i % 10 == 0 else 0.1}  # fmt: skip
        lines.append(json.dumps(rec).encode())
    bad = [
        b'{"problem": "cut off',  # invalid JSON
        b'{"problem": "caf\xe9", "response": "\\\\boxed{1}"}',  # Latin-1 byte: invalid UTF-8
        json.dumps({"problem": "lone \ud83d here", "response": _trace(0, 5)}).encode(),
        json.dumps({"problem": "no trace", "response": ""}).encode(),
        json.dumps({"problem": "no answer", "response": "I think it is 4."}).encode(),
        json.dumps({"problem": "runaway", "response": _trace(1, 2000)}).encode(),
        json.dumps(
            {"problem": "  PROBLEM 3: find x if x + 3 =   6. ", "response": _trace(3, 9)}
        ).encode(),  # dup
        b"[1, 2]",
    ]
    path.write_bytes(b"\n".join(lines[:100] + bad + lines[100:]) + b"\n")
    return path


def _run(src, out, *overrides):
    cmd = [sys.executable, "-m", "infir.cli", "curate", "select-long-cot", "--input", str(src), "--output", str(out),
           "pool_size=150", "subset_size=40", "max_trace_words=1000", *overrides]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_long_cot_selection_through_the_cli(tmp_path):
    src = _write(tmp_path / "numina_qwq.jsonl")
    run = _run(src, tmp_path / "out")
    assert run.returncode == 0, run.stderr
    funnel = json.loads((tmp_path / "out" / "funnel.json").read_text())
    assert funnel["read"] == 248 and funnel["quality_passed"] == 240
    assert funnel["dropped"] == {"duplicate_problem": 1, "invalid_json": 1, "invalid_utf8": 1, "lone_surrogate": 1,
                                 "missing_problem_or_trace": 1, "no_final_answer": 1, "not_an_object": 1,
                                 "too_easy": funnel["dropped"]["too_easy"], "trace_too_long": 1}  # fmt: skip
    rejects = [json.loads(x) for x in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    assert len(rejects) == 8 and all(r["where"].startswith(f"{src}:") for r in rejects)
    assert {r["where"]: r["reason"] for r in rejects}[f"{src}:101"] == "invalid_json"  # named by its line

    pool, subset = (read_records(tmp_path / "out" / f"{n}.jsonl") for n in ("pool", "subset"))
    assert len(pool) == 150 and len(subset) == 40 and funnel["subset"] == 40
    assert all(m[0]["role"] == "user" and m[1]["role"] == "assistant" for m in subset)
    problems = {m[0]["content"] for m in pool}
    assert {m[0]["content"] for m in subset} <= problems
    ids = [int(m[0]["content"].split(":")[0].split()[1]) for m in subset]
    assert not any(i % 10 == 0 for i in ids)  # pass_rate 0.9: solved too often, never in the subset
    # diversity: domains drawn uniformly, although olympiads holds most of the pool
    domains = Counter(
        json.loads(x)["domain"] for x in (tmp_path / "out" / "subset.jsonl").read_text().splitlines()
    )
    assert set(domains) == set(DOMAINS) and max(domains.values()) <= 2 * min(domains.values()), domains
    assert "trace words p50" in run.stdout and funnel["trace_words"]["p100"] <= 1000 + 20
    # the same seed gives the same files; another seed another subset
    again = _run(src, tmp_path / "again")
    assert again.returncode == 0
    for name in ("pool.jsonl", "subset.jsonl", "rejects.jsonl"):
        assert (tmp_path / "again" / name).read_bytes() == (tmp_path / "out" / name).read_bytes()
    assert _run(src, tmp_path / "seed1", "seed=1").returncode == 0
    assert (tmp_path / "seed1" / "subset.jsonl").read_bytes() != (
        tmp_path / "out" / "subset.jsonl"
    ).read_bytes()


def test_diversity_sampling_favours_long_traces_and_spreads_domains():
    import numpy as np

    domains = np.array(["a"] * 900 + ["b"] * 100)
    words = np.array([10] * 450 + [1000] * 450 + [10] * 50 + [1000] * 50)
    picked = diversity_sample(domains, words, 100, seed=0)
    assert len(set(picked.tolist())) == 100  # without replacement
    assert 35 <= (domains[picked] == "b").sum() <= 65  # b holds 10% of the items, ~half of the draws
    assert (words[picked] == 1000).mean() > 0.9  # 100x the weight: long traces dominate
    # a domain that runs dry stops being drawn; asking for more than there is returns everything once
    assert sorted(diversity_sample(domains[:5], words[:5], 50, seed=0).tolist()) == [0, 1, 2, 3, 4]


def test_config_is_strict(tmp_path):
    run = _run(tmp_path / "missing.jsonl", tmp_path / "o")
    assert run.returncode == 2 and "missing.jsonl" in run.stderr and "Traceback" not in run.stderr
    bad = subprocess.run([sys.executable, "-m", "infir.cli", "curate", "select-long-cot", "--dry-run", "pool_sise=3"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert bad.returncode == 2 and "pool_sise" in bad.stderr
    assert LongCoTConfig().pool_size == 2_000_000 and LongCoTConfig().subset_size == 200_000
