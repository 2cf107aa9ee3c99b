"""Fan the per-shard and per-partition parts of a global step's `fit` out over workers.

A global step (exact/near dedup) first does independent work per shard (hash, shingle and sign it, write
its partition files) and then per partition (group a bucket's keys, verify candidate pairs); only the small
removal lists meet in one place. `fan_out(fn, n)` runs `fn(0..n-1)` on the pipeline's workers and yields
`(i, result)` as each finishes: forked processes for the local executor (`--workers N`), Ray tasks for the
Ray executor (`--executor ray`, so a multi-node Ray cluster shares the work; the step's files must then be
on shared storage). Results are small (counters, pair arrays); outputs are identical at any worker count
because every task is a pure function of its index and the callers order results by index.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

_FN: list[Callable[[int], Any]] = []  # the function a forked worker runs (set just before the fork)


@dataclass
class FanOut:
    """Where a fit's tasks run: `workers` local processes, or Ray (`ray`, started by the caller)."""

    workers: int = 1
    ray: bool = False


def _die_with_driver() -> None:
    """A killed driver takes its workers with it (no orphan finishing a shard behind a rerun's back)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    # The pool ends its idle workers with SIGTERM; a handler the driver inherited (Ray installs one in every
    # process that called ray.init) would keep a worker alive and hang the pool's exit forever.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _call(i: int) -> tuple[int, Any]:
    return i, _FN[0](i)


def fan_out(fn: Callable[[int], Any], n: int, where: FanOut | None = None) -> Iterator[tuple[int, Any]]:
    """`(i, fn(i))` for i in range(n), in completion order; in-process when there is one worker or task."""
    where = where or FanOut()
    if where.ray and n > 1:
        yield from _ray(fn, n)
        return
    if where.workers <= 1 or n <= 1:
        for i in range(n):
            yield i, fn(i)
        return
    _FN[:] = [fn]
    try:
        with mp.get_context("fork").Pool(min(where.workers, n), initializer=_die_with_driver) as pool:
            yield from pool.imap_unordered(_call, range(n))
    finally:
        _FN.clear()


def _ray(fn: Callable[[int], Any], n: int) -> Iterator[tuple[int, Any]]:
    import ray

    remote = ray.remote(num_cpus=1)(_RayTask)
    task = ray.put(fn)  # shipped once, shared by every task
    pending = {remote.remote(task, i): i for i in range(n)}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            yield pending.pop(ref), ray.get(ref)


def _RayTask(fn: Callable[[int], Any], i: int) -> Any:  # noqa: N802 (a Ray task is named like one)
    return fn(i)
