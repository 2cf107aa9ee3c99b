"""Kill a real `infir curate` run with SIGKILL mid-way, rerun it, and compare with an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .helpers import write_corpus

ROOT = Path(__file__).resolve().parents[2]
HELPER = ROOT / "tests" / "curation_runner" / "helpers.py"

PIPELINE = """name: resume
batch_size: 10
steps:
  - {type: test_slow, sleep_s: 0.02}
  - {type: exact_dedup, num_partitions: 4}
  - {type: test_min_words, min_words: 30}
"""


def curate(yaml: Path, corpus: Path, out: Path, workers: int = 1) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, str(HELPER), "curate", str(yaml), "--input", str(corpus), "--output", str(out),
            "--workers", str(workers)]  # fmt: skip
    return subprocess.Popen(
        argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def reference_run(yaml: Path, corpus: Path, out: Path, timeout: int) -> None:
    """The uninterrupted one-process run the resumed one must equal."""
    proc = curate(yaml, corpus, out)
    assert proc.wait(timeout=timeout) == 0, proc.stdout.read()


def kill_when(proc: subprocess.Popen, markers: Path, pattern: str, at_least: int) -> int:
    """SIGKILL `proc` as soon as `at_least` files match `pattern` in `markers`; returns how many did."""
    deadline = time.time() + 120
    while time.time() < deadline and len(list(markers.glob(pattern))) < at_least:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return len(list(markers.glob(pattern)))


def tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for sub in ("kept", "rejects")
        for p in sorted((folder / sub).glob("*"))
    }


@pytest.mark.parametrize("workers", [1, 2])
def test_killed_run_resumes_byte_identical(tmp_path, workers):
    """The reference runs in one process; the killed-and-resumed run uses `workers` processes: the same
    bytes either way (a shard is processed the same whoever owns it)."""
    corpus = write_corpus(tmp_path / "in", n_shards=20, docs_per_shard=40, malformed_every=13)
    # duplicate a shard's content under another name so exact_dedup (a GlobalStep) has work across shards
    dup = (corpus / "shard-003.jsonl").read_text().replace('"id": "d', '"id": "copy-d')
    (corpus / "shard-999.jsonl").write_text(dup)
    yaml = tmp_path / "resume.yaml"
    yaml.write_text(PIPELINE)

    ref = tmp_path / "ref"
    reference_run(yaml, corpus, ref, timeout=120)

    out = tmp_path / "killed"
    proc = curate(yaml, corpus, out, workers)
    done_at_kill = kill_when(proc, out / "_state" / "phase0" / "done", "*.json", 5)
    assert 5 <= done_at_kill < 21, "the kill must land while phase 0 is still running"
    assert not (out / "funnel.json").exists()

    proc = curate(yaml, corpus, out, workers)
    log = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0, log
    # the rerun skipped the shards that had markers
    assert f"shard {21 - done_at_kill}/{21 - done_at_kill}" in log
    assert (f"on {workers} workers" in log) == (workers > 1)  # the pool really ran
    assert tree(out) == tree(ref) and len(tree(ref)) == 42
    assert (out / "funnel.json").read_text().split('"seconds"')[0] == (ref / "funnel.json").read_text().split(
        '"seconds"'
    )[0]
    assert b"exact_duplicate" in tree(ref)["rejects/shard-999.jsonl"]


FIT_PIPELINE = """name: resume_fit
batch_size: 50
steps:
  - {type: minhash_dedup, num_partitions: 4, bands: 10, rows: 2, threshold: 0.5}
"""


def test_killed_parallel_fit_resumes_byte_identical(tmp_path):
    """SIGKILL while MinHash's per-shard signing runs on 2 workers (fanout.py): the rerun signs only the
    shards without a store marker and the output equals a one-process run's, byte for byte."""
    corpus = write_corpus(tmp_path / "in", n_shards=24, docs_per_shard=150)
    yaml = tmp_path / "fit.yaml"
    yaml.write_text(FIT_PIPELINE)
    ref = tmp_path / "ref"
    reference_run(yaml, corpus, ref, timeout=300)

    out = tmp_path / "killed"
    proc = curate(yaml, corpus, out, workers=2)
    signed = out / "_state" / "global" / "minhash_dedup" / "minhash_dedup" / "shards"
    done_at_kill = kill_when(proc, signed, "*.done", 3)
    assert 3 <= done_at_kill < 24, f"the kill must land inside the fit ({done_at_kill} shards signed)"
    assert not (out / "kept").exists()

    proc = curate(yaml, corpus, out, workers=2)
    log = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, log
    assert log.count("done earlier, skipped") >= done_at_kill  # the signed shards were not signed again
    assert tree(out) == tree(ref) and len(tree(ref)) == 48
