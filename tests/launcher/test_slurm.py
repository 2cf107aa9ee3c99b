"""Against a real one-node SLURM (scripts/slurm_local.sh start): the tiny afterok chain and requeue/resume.

Skipped, with the reason, when sinfo is missing or no node is idle.
"""

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import yaml

from infir.launcher.chain import Chain, Stage, load_pipeline
from infir.launcher.cluster import load_cluster
from infir.launcher.slurm import submit_chain

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slurm


def _slurm_reason() -> str | None:
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "no SLURM client (sinfo/sbatch); run: bash scripts/slurm_local.sh install && ... start"
    proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20)
    if proc.returncode != 0 or not re.search(r"^(idle|mixed)", proc.stdout, flags=re.M):
        return f"no idle SLURM node (sinfo: {proc.stdout.strip() or proc.stderr.strip()}); run scripts/slurm_local.sh start"
    return None


@pytest.fixture(scope="module")
def slurm():
    reason = _slurm_reason()
    if reason:
        pytest.skip(reason)
    return load_cluster(ROOT / "conf/cluster/local_slurm.yaml")


def _job(job_id: str) -> dict[str, str]:
    out = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True).stdout
    return dict(re.findall(r"(\w+)=(\S*)", out))


def _wait(job_ids: list[str], timeout: float = 120) -> dict[str, dict[str, str]]:
    end = time.time() + timeout
    while time.time() < end:
        jobs = {j: _job(j) for j in job_ids}
        if all(
            info.get("JobState") in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT") for info in jobs.values()
        ):
            return jobs
        time.sleep(0.5)
    subprocess.run(["scancel", *job_ids])
    pytest.fail(f"jobs {job_ids} did not finish in {timeout}s: {jobs}")


def _idx_lengths(path: Path) -> np.ndarray:
    """Sequence lengths from a Megatron .idx (MMIDIDX header, version, dtype code, counts, lengths)."""
    raw = path.read_bytes()
    assert raw[:9] == b"MMIDIDX\x00\x00", raw[:9]
    (n_seq,) = struct.unpack("<Q", raw[18:26])
    return np.frombuffer(raw, dtype=np.int32, count=n_seq, offset=34)


def _started_at(log: Path) -> datetime:
    # the sbatch script's first line: "job N restart R on NODE at <date -Is>"
    stamp = re.search(r"^job \d+ restart \d+ on \S+ at (\S+)$", log.read_text(), flags=re.M).group(1)
    return datetime.fromisoformat(stamp)


@pytest.mark.slow
def test_tiny_chain_afterok(slurm, tmp_path, monkeypatch):
    """conf/pipelines/tiny.yaml, the real stage CLIs at toy size, as an afterok chain under SLURM."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")  # sbatch exports it
    chain = load_pipeline(ROOT / "conf/pipelines/tiny.yaml", tmp_path, {"corpus": str(ROOT / "data/demo")})
    subs = submit_chain(chain, slurm, tmp_path)
    ids = [s.job_id for s in subs]
    assert all(ids) and [s.dependency for s in subs[1:]] == [f"afterok:{i}" for i in ids[:-1]]
    jobs = _wait(ids, timeout=300)
    logs = {s.name: next((tmp_path / s.name).glob(f"{s.name}_*.out")) for s in chain}
    states = {s.name: jobs[i]["JobState"] for s, i in zip(chain, ids)}
    assert set(states.values()) == {"COMPLETED"}, {
        n: (st, logs[n].read_text()[-1500:]) for n, st in states.items()
    }
    # afterok: each stage started no earlier than its parent's done marker was written
    for stage in chain:
        for parent in stage.after:
            done = datetime.fromisoformat(chain.get(parent).marker_path(tmp_path).read_text().strip())
            assert _started_at(logs[stage.name]) >= done, (parent, stage.name)
    # every stage left valid output
    assert (tmp_path / "decontam/benchmarks.npz").stat().st_size > 0
    assert list((tmp_path / "curated/web/kept").glob("*.jsonl"))
    counts = json.loads((tmp_path / "tokens/token_counts.json").read_text())["web"]
    lengths = _idx_lengths(tmp_path / "tokens/web_text_document.idx")
    assert len(lengths) == counts["documents"] > 0 and int(lengths.sum()) == counts["tokens"]
    assert (tmp_path / "tokens/web_text_document.bin").stat().st_size == 2 * counts["tokens"]  # uint16
    blend = yaml.safe_load((tmp_path / "blend.yaml").read_text())
    assert blend["blend"] == [[1.0, str(tmp_path / "tokens/web_text_document")]]
    for stage in ("pretrain", "anneal", "sft"):
        rows = (tmp_path / stage / "ckpt/metrics.jsonl").read_text().splitlines()
        assert [json.loads(r)["step"] for r in rows] == [1, 2, 3, 4], stage
    # anneal starts from pretrain's export, not from random weights: its first loss is already lower
    first = {
        s: json.loads((tmp_path / s / "ckpt/metrics.jsonl").read_text().splitlines()[0])["loss"]
        for s in ("pretrain", "anneal")
    }
    assert first["anneal"] < first["pretrain"], first
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tmp_path / "sft/ckpt/export")
    assert model.config.vocab_size >= counts["vocab_size"]
    for stage in chain:
        assert (tmp_path / stage.name / f"{stage.name}.sbatch").is_file()  # saved next to the logs
        assert stage.is_done(tmp_path)
    # resubmitting a finished pipeline submits nothing
    assert all(s.skipped for s in submit_chain(chain, slurm, tmp_path))


def test_failed_parent_cancels_children(slurm, tmp_path):
    chain = Chain(
        [Stage("bad", ["false"]), Stage("child", ["touch", str(tmp_path / "child_ran")], after=["bad"])]
    )
    subs = submit_chain(chain, slurm, tmp_path)
    jobs = _wait([s.job_id for s in subs])
    assert jobs[subs[0].job_id]["JobState"] == "FAILED"
    assert jobs[subs[1].job_id]["JobState"] == "CANCELLED"
    assert not (tmp_path / "child_ran").exists() and not (tmp_path / "bad/DONE").exists()


COUNTER = """
import json, os, sys, time
state = sys.argv[1]; total = int(sys.argv[2])
step = json.load(open(state))["step"] if os.path.exists(state) else 0
with open(state + ".log", "a") as log:
    log.write(f"start {step} restart {os.environ.get('SLURM_RESTART_COUNT', '0')}\\n")
while step < total:
    time.sleep(0.25)
    step += 1
    tmp = state + ".tmp"
    json.dump({"step": step}, open(tmp, "w")); os.replace(tmp, state)  # an atomic 'checkpoint'
"""


@pytest.mark.slow
def test_preemption_signal_requeues_and_resumes(slurm, tmp_path):
    script = tmp_path / "counter.py"
    script.write_text(COUNTER)
    state = tmp_path / "state.json"
    stage = Stage("train", [sys.executable, str(script), str(state), "40"])
    (sub,) = submit_chain(Chain([stage]), slurm, tmp_path)
    deadline = time.time() + 60
    while not (state.exists() and int(re.search(r"\d+", state.read_text()).group()) >= 5):
        assert time.time() < deadline, "the job never started counting"
        time.sleep(0.2)
    # what SLURM does before preemption / the time limit: the preemption signal to the batch shell
    subprocess.run(["scancel", "--batch", "--signal=USR1", sub.job_id], check=True)
    # SLURM holds a requeued job back ~2 minutes (BeginTime); a test need not wait that out
    while _job(sub.job_id).get("JobState") not in ("PENDING", "COMPLETED") and time.time() < deadline + 60:
        time.sleep(0.2)
    subprocess.run(["scontrol", "update", f"JobId={sub.job_id}", "StartTime=now"], capture_output=True)
    jobs = _wait([sub.job_id], timeout=240)
    assert jobs[sub.job_id]["JobState"] == "COMPLETED" and int(jobs[sub.job_id]["Restarts"]) >= 1
    starts = [ln.split() for ln in (tmp_path / "state.json.log").read_text().splitlines()]
    assert starts[0][:2] == ["start", "0"]
    assert len(starts) >= 2 and int(starts[1][1]) >= 5 and starts[1][3] != "0"  # resumed, not restarted
    assert '{"step": 40}' in state.read_text() and stage.is_done(tmp_path)
    log = next((tmp_path / "train").glob("train_*.out")).read_text()
    assert "caught SIGUSR1: requeueing job" in log
