"""NeMo Curator adapter: each Step runs as a `ProcessingStage` on `DocumentBatch`, on the Ray Data backend.

One DocumentBatch per shard carries the documents as JSON strings (`_json`, so heterogeneous fields survive
Arrow) with their input position (`_pos`) and the step/reason that dropped them (null while alive). A stage
filters only live rows, in `batch_size` chunks, with the same `apply_steps` the local executor uses, and
puts its counters in the task metadata; the driver writes the files, so both executors give identical output.
nemo_curator and ray are imported only here, inside functions: `infir --help` and the local path never
load them.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from infir.curation.base import Step
from infir.curation.executors.local import apply_steps, merge_rejects, split_records

#: seconds the last local Ray start took (reported by benchmarks and the test)
RAY_STARTUP_S: float | None = None


def make_stage(label: str, step: Step, batch_size: int) -> Any:
    """Wrap one Step as a NeMo Curator ProcessingStage[DocumentBatch, DocumentBatch]."""
    from nemo_curator.stages.base import ProcessingStage
    from nemo_curator.stages.resources import Resources
    from nemo_curator.tasks import DocumentBatch

    class StepStage(ProcessingStage[DocumentBatch, DocumentBatch]):
        resources = Resources(cpus=1.0)
        batch_size = 1

        def __init__(self) -> None:
            self.name = f"infir_{label}"
            self.step, self.label, self.docs_per_batch = step, label, batch_size

        def inputs(self) -> tuple[list[str], list[str]]:
            return ["data"], ["_json", "_pos", "_step", "_reason"]

        def outputs(self) -> tuple[list[str], list[str]]:
            return ["data"], ["_json", "_pos", "_step", "_reason"]

        def setup(self, worker_metadata: Any = None) -> None:
            self.step.setup()  # heavy state loads once per Ray worker, after unpickling

        def process(self, task: DocumentBatch) -> DocumentBatch:
            import pyarrow as pa

            table = task.to_pyarrow()
            js, pos = table["_json"].to_pylist(), table["_pos"].to_pylist()
            steps_, reasons = table["_step"].to_pylist(), table["_reason"].to_pylist()
            live = [(i, json.loads(js[i])) for i in range(len(js)) if reasons[i] is None]
            kept, dropped, stats = apply_steps([(self.label, self.step)], live, self.docs_per_batch)
            for i, doc in kept:  # steps may annotate docs (scores, survivor ids)
                js[i] = json.dumps(doc, ensure_ascii=False)
            for i, rej in dropped:
                steps_[i], reasons[i] = rej.pop("_step"), rej.pop("_reason")
                js[i] = json.dumps(rej, ensure_ascii=False)
            out = pa.table(
                {
                    "_json": pa.array(js, pa.string()),
                    "_pos": pa.array(pos, pa.int64()),
                    "_step": pa.array(steps_, pa.string()),
                    "_reason": pa.array(reasons, pa.string()),
                }
            )
            meta = dict(task._metadata)
            meta["infir_stats"] = {**meta.get("infir_stats", {}), self.label: stats[self.label].to_json()}
            return DocumentBatch(dataset_name=task.dataset_name, data=out, _metadata=meta)

    return StepStage()


class NemoCuratorExecutor:
    """Runs each phase as one NeMo Curator Pipeline (RayDataExecutor) over all pending shards."""

    def __init__(self, cfg):
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
            ray.init(num_cpus=self.cfg.num_cpus, include_dashboard=False, log_to_driver=False)
        RAY_STARTUP_S = time.perf_counter() - t0
        self._started_ray = True
        print(f"ray: started in {RAY_STARTUP_S:.1f}s ({self.cfg.ray_address or 'local'})", file=sys.stderr)

    def run_phase(
        self, steps: Sequence[tuple[str, Step]], inputs: list[tuple[str, Iterable]], first: bool
    ) -> Iterator:
        import pyarrow as pa
        from nemo_curator.backends.ray_data import RayDataExecutor
        from nemo_curator.pipeline import Pipeline
        from nemo_curator.tasks import DocumentBatch

        from infir.curation.io import read_jsonl  # noqa: F401  (keeps the io module loaded on the driver)
        from infir.curation.pipeline import ShardResult

        if not steps:  # phase with no step (an empty pipeline): only the reader's malformed lines
            from infir.curation.executors.local import LocalExecutor

            yield from LocalExecutor(self.cfg, quiet=True).run_phase(steps, inputs, first)
            return
        tasks, side = [], {}
        for name, records in inputs:
            docs, bad, read_stats = split_records(records, first)
            side[name] = (bad, read_stats)
            table = pa.table(
                {
                    "_json": pa.array([json.dumps(d, ensure_ascii=False) for _, d in docs], pa.string()),
                    "_pos": pa.array([p for p, _ in docs], pa.int64()),
                    "_step": pa.array([None] * len(docs), pa.string()),
                    "_reason": pa.array([None] * len(docs), pa.string()),
                }
            )
            if docs:  # a shard with nothing left to filter needs no Ray task
                tasks.append(DocumentBatch(dataset_name=self.cfg.name, data=table, _metadata={"shard": name}))
        if tasks:
            self._ensure_ray()
        pipeline = Pipeline(
            name=f"infir_{self.cfg.name}", stages=[make_stage(lb, s, self.cfg.batch_size) for lb, s in steps]
        )
        t0 = time.perf_counter()
        # RayDataExecutor shuts Ray down when it finishes, so each phase (GlobalStep split) starts it again
        results = (pipeline.run(executor=RayDataExecutor(), initial_tasks=tasks) or []) if tasks else []
        n = sum(t.num_items for t in tasks)
        print(
            f"nemo-curator: {len(steps)} stages, {len(tasks)} shards, {n} docs in "
            f"{time.perf_counter() - t0:.1f}s",
            file=sys.stderr,
        )
        by_shard = {t._metadata["shard"]: t for t in results}
        from infir.curation.base import StepStats

        for name, _ in inputs:
            bad, read_stats = side[name]
            t = by_shard.get(name)
            kept, rejects = [], []
            cols = (
                zip(*(t.to_pyarrow()[c].to_pylist() for c in ("_json", "_pos", "_step", "_reason")))
                if t
                else ()
            )
            for js, pos, step, reason in sorted(cols, key=lambda r: r[1]):
                doc = json.loads(js)
                if reason is None:
                    kept.append(doc)
                else:
                    rejects.append((pos, {**doc, "_step": step, "_reason": reason}))
            stats = {
                lb: StepStats.from_json(t._metadata["infir_stats"][lb]) if t else StepStats()
                for lb, _ in steps
            }
            if read_stats is not None:
                stats = {"read": read_stats, **stats}
            yield ShardResult(name, kept, merge_rejects(bad, rejects), stats)

    def close(self) -> None:
        if self._started_ray:
            import ray

            ray.shutdown()
            self._started_ray = False
