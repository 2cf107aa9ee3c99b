"""The NeMo Curator path: steps as ProcessingStages on a real local Ray (Ray Data backend), compared with the
local executor on the same corpus: identical kept/ and rejects/ files."""

from __future__ import annotations

import json
import time

import pytest

from infir.curation.pipeline import PipelineConfig, run_pipeline

from .helpers import write_corpus

STEPS = [
    {"type": "gopher_repetition"},
    {"type": "fineweb_quality"},
    {"type": "exact_dedup", "num_partitions": 2},
    {"type": "gopher_quality"},
]


def files(folder):
    return {
        f"{sub}/{p.name}": p.read_bytes()
        for sub in ("kept", "rejects")
        for p in sorted((folder / sub).glob("*"))
    }


@pytest.mark.slow
def test_ray_executor_matches_local(tmp_path, capsys, monkeypatch):
    pytest.importorskip("nemo_curator")
    from infir.curation.executors import nemo

    # a cluster address left in the environment (or in /tmp/ray/ray_current_cluster by any `ray start` on
    # the machine, e.g. a SLURM job's) must not capture a run that asked for a local Ray
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")

    corpus = write_corpus(tmp_path / "in", n_shards=4, docs_per_shard=100, malformed_every=40)
    (corpus / "shard-zz.jsonl").write_text("{oops\n")  # a shard with no valid document: no Ray task at all
    cfg = PipelineConfig(name="tiny", steps=STEPS, batch_size=50, num_cpus=2)
    t0 = time.perf_counter()
    local = run_pipeline(cfg, corpus, tmp_path / "local", executor="local", quiet=True)
    t_local = time.perf_counter() - t0
    t0 = time.perf_counter()
    ray = run_pipeline(cfg, corpus, tmp_path / "ray", executor="ray", quiet=True)
    t_ray = time.perf_counter() - t0
    assert files(tmp_path / "ray") == files(tmp_path / "local")
    assert json.dumps(ray.to_json()["steps"]) == json.dumps(local.to_json()["steps"])
    assert local.docs_out < local.docs_in and nemo.RAY_STARTUP_S is not None
    with capsys.disabled():
        print(
            f"\nlocal {401 / t_local:,.0f} docs/s ({t_local:.1f}s); nemo-curator/ray {401 / t_ray:,.0f} docs/s "
            f"({t_ray:.1f}s, ray start {nemo.RAY_STARTUP_S:.1f}s)"
        )


@pytest.mark.slow
def test_ray_workers_own_the_shards_the_driver_reads_none(tmp_path, monkeypatch):
    """On Ray, each task reads, filters and writes its own shard: with the driver's shard reader and
    record splitter made to fail, the run still completes (only the workers ever read a document) and
    its files equal the local executor's."""
    pytest.importorskip("nemo_curator")
    import infir.curation.executors.local as local_exec
    import infir.curation.pipeline as pipeline

    corpus = write_corpus(tmp_path / "in", n_shards=3, docs_per_shard=60, malformed_every=25)
    cfg = PipelineConfig(name="own", steps=[{"type": "gopher_repetition"}, {"type": "gopher_quality"}],
                         batch_size=50, num_cpus=2)  # fmt: skip
    local = run_pipeline(cfg, corpus, tmp_path / "local", executor="local", quiet=True)

    def driver_must_not_read(*_a, **_k):
        raise AssertionError("the driver read documents")

    monkeypatch.setattr(pipeline, "_records", driver_must_not_read)
    monkeypatch.setattr(local_exec, "split_records", driver_must_not_read)
    ray = run_pipeline(cfg, corpus, tmp_path / "ray", executor="ray", quiet=True)
    assert files(tmp_path / "ray") == files(tmp_path / "local")
    assert ray.docs_in == local.docs_in and ray.docs_out == local.docs_out


def test_the_one_private_nemo_curator_field_we_use_still_exists():
    """NeMo Curator has no public accessor for a task's own dict; we use the dataclass field `_metadata`
    in one place (curation/executors/nemo.py). An upgrade that renames it fails here, not mid-run."""
    import dataclasses

    from nemo_curator.tasks import FileGroupTask

    from infir.curation.executors.nemo import shard_task, task_meta

    assert "_metadata" in {f.name for f in dataclasses.fields(FileGroupTask)}
    task = shard_task("web", "/data/part-0.jsonl", {"shard": "part-0"})
    assert isinstance(task, FileGroupTask) and task.data == ["/data/part-0.jsonl"]
    assert task_meta(task) == {"shard": "part-0"}
