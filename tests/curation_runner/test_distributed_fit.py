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
