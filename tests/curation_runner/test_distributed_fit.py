"""Global steps fitted in parallel: exact and MinHash dedup's per-shard and per-partition work fanned out
over 2 local workers and over Ray gives byte-identical outputs (and the same removal lists) to one process."""

from __future__ import annotations

import hashlib
import json

import pytest

from infir.curation.pipeline import PipelineConfig, run_pipeline

from .helpers import write_corpus

STEPS = [
    {"type": "exact_dedup", "num_partitions": 3},
    {"type": "minhash_dedup", "num_partitions": 4, "bands": 10, "rows": 2, "threshold": 0.5},
]


def digest(out) -> str:
    h = hashlib.sha256()
    for sub in ("kept", "rejects"):
        for p in sorted((out / sub).glob("*.jsonl")):
            h.update(p.name.encode() + p.read_bytes())
    for p in sorted((out / "_state" / "global").rglob("removed.json")):
        h.update(p.read_bytes())
    return h.hexdigest()


def _corpus(tmp_path):
    corpus = write_corpus(tmp_path / "in", n_shards=4, docs_per_shard=80, malformed_every=0)
    # near and exact copies across shards, so both steps remove something
    rows = [json.loads(x) for x in (corpus / "shard-000.jsonl").read_text().splitlines()[:20]]
    extra = [{**r, "id": f"copy-{i}", "text": r["text"] + (" extra words here" if i % 2 else "")}
             for i, r in enumerate(rows)]  # fmt: skip
    (corpus / "shard-009.jsonl").write_text("".join(json.dumps(r) + "\n" for r in extra))
    return corpus


def test_fit_on_two_workers_equals_one_process(tmp_path, capsys):
    corpus = _corpus(tmp_path)
    cfg = PipelineConfig(name="fit", steps=STEPS, batch_size=50)
    one = run_pipeline(cfg, corpus, tmp_path / "w1", quiet=True)
    two = run_pipeline(PipelineConfig(name="fit", steps=STEPS, batch_size=50, workers=2), corpus, tmp_path / "w2",
                       quiet=True)  # fmt: skip
    assert digest(tmp_path / "w1") == digest(tmp_path / "w2")
    removed = {s["step"]: s["docs_in"] - s["docs_out"] for s in one.to_json()["steps"]}
    assert removed["exact_dedup"] >= 10 and removed["minhash_dedup"] >= 5, removed
    assert two.to_json()["steps"] == one.to_json()["steps"]
    assert "[2/5]" in capsys.readouterr().out  # per-shard progress of the fanned-out fit


@pytest.mark.slow
def test_fit_on_ray_equals_one_process(tmp_path):
    pytest.importorskip("nemo_curator")
    corpus = _corpus(tmp_path)
    run_pipeline(PipelineConfig(name="fit", steps=STEPS, batch_size=50), corpus, tmp_path / "w1", quiet=True)
    run_pipeline(PipelineConfig(name="fit", steps=STEPS, batch_size=50, num_cpus=2), corpus, tmp_path / "ray",
                 executor="ray", quiet=True)  # fmt: skip
    assert digest(tmp_path / "w1") == digest(tmp_path / "ray")


def test_worker_pool_ends_even_if_the_driver_ignores_sigterm(tmp_path):
    """Ray's ray.init() leaves a SIGTERM handler in the driver; forked workers inherited it, so the pool's
    SIGTERM to its idle workers did nothing and a 2-worker run hung at its end (seen in the full suite)."""
    import subprocess
    import sys

    corpus = _corpus(tmp_path)
    script = (
        "import signal, sys\n"
        "signal.signal(signal.SIGTERM, lambda *a: None)\n"
        "from infir.curation.pipeline import PipelineConfig, run_pipeline\n"
        f"cfg = PipelineConfig(name='fit', steps={STEPS!r}, batch_size=50, workers=2)\n"
        f"run_pipeline(cfg, {str(corpus)!r}, {str(tmp_path / 'out')!r}, quiet=True)\n"
        "print('finished')\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "finished" in proc.stdout, proc.stderr[-2000:]
