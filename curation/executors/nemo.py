"""NeMo Curator adapter: workers own the data. One `FileGroupTask` per shard goes through one NeMo Curator
`ProcessingStage` on Ray (the Ray Data backend); the stage reads its shard, runs the phase's steps, writes
the shard's kept and rejects files and then its done-marker, and returns a task that carries only the
shard's name and counters. The driver holds shard names and counters, nothing per document, so its memory
does not grow with the corpus. Shards must be on storage every Ray node sees (a shared filesystem).

Where this differs from NeMo Curator's own readers/writers, and why: their `JsonlReader`/`JsonlWriter`
turn shards into pandas/Arrow batches and back, which drops what our contract needs: the exact input line
(a malformed line goes to rejects with file:line and the raw text), per-document reasons, lone surrogates
and invalid UTF-8 caught and counted, and byte-identical output to the local executor. So the stage calls
the same `process_shard` the local pool calls (pool.py); Curator provides the stage model, the Ray
scheduling, and the backend. nemo_curator and ray are imported only inside functions: `infir --help` and
the local path never load them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

#: seconds the last local Ray start took (reported by benchmarks and the test)
RAY_STARTUP_S: float | None = None


def make_shard_stage(layout: Any, phase: Any, cfg: Any, shards: Sequence[Any]) -> Any:
    """The phase as one ProcessingStage[FileGroupTask, FileGroupTask]: a task in = one shard, out = counters.

    The stage is pickled to every Ray worker with the phase's steps, including the global step's fitted
    state (duplicate lists, recall cut-offs), so workers never recompute it; `setup()` loads models once
    per worker, after unpickling."""
    from nemo_curator.stages.base import ProcessingStage
    from nemo_curator.stages.resources import Resources
    from nemo_curator.tasks import FileGroupTask

    from infir.curation.executors.pool import process_shard

    by_name = {s.name: s for s in shards}
    # a synthesis step with a vLLM engine needs its tensor-parallel GPUs: Ray places each shard task on a
    # node with that many free and sets CUDA_VISIBLE_DEVICES, so shards spread over every GPU in the cluster
    gpus = max((getattr(step, "gpus", 0) for _, step in phase.steps), default=0)

    class ShardStage(ProcessingStage[FileGroupTask, FileGroupTask]):
        resources = Resources(cpus=1.0, gpus=float(gpus))
        batch_size = 1

        def __init__(self) -> None:
            self.name = f"infir_{cfg.name}_phase{phase.index}"

        def inputs(self) -> tuple[list[str], list[str]]:
            return [], []

        def outputs(self) -> tuple[list[str], list[str]]:
            return [], []

        def setup(self, worker_metadata: Any = None) -> None:
            for _, step in phase.steps:
                step.setup()

        def process(self, task: FileGroupTask) -> FileGroupTask:
            name, n_in, n_kept = process_shard(layout, phase, cfg, by_name[task_meta(task)["shard"]])
            out = str(layout.kept(phase.index, name))
            return shard_task(task.dataset_name, out, {"shard": name, "docs_in": n_in, "docs_kept": n_kept})

    return ShardStage()


# NeMo Curator 1.4.0 keeps a task's own dict in the dataclass field `_metadata` (no public accessor): these
# two functions are the only code that touches it; tests/curation_runner/test_nemo_ray.py pins the field.
def shard_task(dataset: str, path: str, meta: dict[str, Any]) -> Any:
    """A FileGroupTask for one shard file, carrying `meta` (shard name, counters) through the pipeline."""
    from nemo_curator.tasks import FileGroupTask

    return FileGroupTask(dataset_name=dataset, data=[path], _metadata=meta)


def task_meta(task: Any) -> dict[str, Any]:
    return task._metadata


class NemoCuratorExecutor:
    """Runs each phase as one NeMo Curator Pipeline (RayDataExecutor), one task per pending shard."""

    def __init__(self, cfg: Any) -> None:
        self.cfg, self._started_ray = cfg, False

    def _ensure_ray(self) -> None:
        global RAY_STARTUP_S
        import ray

        if ray.is_initialized():
            return
        t0 = time.perf_counter()
        if self.cfg.ray_address:
            ray.init(address=self.cfg.ray_address, log_to_driver=False)
        else:
            # address="local": always a new instance, never a cluster that RAY_ADDRESS or a leftover
            # /tmp/ray/ray_current_cluster (written by any `ray start` on this machine) points at
            ray.init(
                address="local", num_cpus=self.cfg.num_cpus, include_dashboard=False, log_to_driver=False
            )
        RAY_STARTUP_S = time.perf_counter() - t0
        self._started_ray = True
        print(f"ray: started in {RAY_STARTUP_S:.1f}s ({self.cfg.ray_address or 'local'})", file=sys.stderr)

    def run_shards(self, layout: Any, phase: Any, shards: Sequence[Any], quiet: bool = False) -> None:
        """Process `shards` (those without a done-marker) of one phase; results are on disk afterwards."""
        from nemo_curator.backends.ray_data import RayDataExecutor
        from nemo_curator.pipeline import Pipeline

        from infir.curation.executors.pool import progress_line

        tasks = [shard_task(self.cfg.name, str(s.path), {"shard": s.name}) for s in shards]
        self._ensure_ray()
        pipeline = Pipeline(
            name=f"infir_{self.cfg.name}", stages=[make_shard_stage(layout, phase, self.cfg, shards)]
        )
        t0 = time.perf_counter()
        # RayDataExecutor shuts Ray down when it finishes, so each phase (GlobalStep split) starts it again
        results = pipeline.run(executor=RayDataExecutor(), initial_tasks=tasks) or []
        done = {task_meta(t)["shard"] for t in results}
        missing = sorted({s.name for s in shards} - done)
        if missing:  # a task that failed leaves no marker: a rerun retries exactly these shards
            raise RuntimeError(
                f"nemo-curator: {len(missing)} shard(s) did not finish: {', '.join(missing[:5])}"
            )
        if not quiet:
            labels, total_in = ",".join(lb for lb, _ in phase.steps) or "read", 0
            for i, t in enumerate(sorted(results, key=lambda t: task_meta(t)["shard"]), 1):
                m = task_meta(t)
                total_in += m["docs_in"]
                print(progress_line(labels, i, len(results), m["shard"], m["docs_in"], m["docs_kept"], total_in,
                                    time.perf_counter() - t0, "ray"), file=sys.stderr)  # fmt: skip
        self._started_ray = False  # the executor shut it down

    def close(self) -> None:
        if self._started_ray:
            import ray

            ray.shutdown()
            self._started_ray = False
