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


def _wait_node_released(since: float, timeout: float = 60) -> None:
    """Wait until every node has finished its jobs (no CPU allocated, not COMPLETING) and slurmd's
    credential revocation, stamped in whole seconds at the kill, lies at least 2 s in the past."""
    end = time.time() + timeout
    while time.time() < end:
        out = subprocess.run(["scontrol", "-o", "show", "node"], capture_output=True, text=True).stdout
        nodes = [dict(re.findall(r"(\w+)=(\S*)", line)) for line in out.splitlines() if line.strip()]
        busy = [n for n in nodes if n.get("CPUAlloc") != "0" or "COMPLETING" in n.get("State", "")]
        if nodes and not busy and time.time() - since >= 2:
            return
        time.sleep(0.2)
    pytest.fail(f"the node did not finish the requeued job's old run in {timeout}s: {out}")


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


# Long enough that the job is still training when the first checkpoint shows up and the signal lands
# (~0.25 s a step with its saves on one core, ~7 s a run); a checkpoint every 2 steps, so the resume point
# is well inside the run.
STEPS, SAVE_EVERY = 30, 2


def _checkpoint_steps(ckpt_dir: Path) -> list[int]:
    """Steps of the complete checkpoints (an interrupted save is a step_N.tmp folder)."""
    names = [p.name for p in (ckpt_dir / "checkpoints").glob("step_*")]
    return sorted(int(n.split("_")[1]) for n in names if n.split("_")[1].isdigit())


def _trajectory(ckpt_dir: Path) -> list[dict]:
    return [json.loads(row) for row in (ckpt_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_preemption_requeues_training_and_resumes_exactly(
    slurm, tmp_path, monkeypatch, request, tokenizer_dir, blend_yaml
):
    """`infir train pretrain_tiny` under SLURM, sent the preemption signal after its first checkpoint:
    the rendered script's trap requeues it, the rerun resumes from the checkpoint, and the per-step
    losses equal an uninterrupted run's exactly."""
    import torch

    from infir.config import resolve
    from infir.recipes.cpu_engine import train
    from infir.recipes.registry import get_recipe

    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")  # sbatch exports it
    # Float sums depend on the thread count: the job and the in-process reference both use one thread.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    overrides = [f"data.blend={blend_yaml}", f"data.tokenizer={tokenizer_dir}",
                 f"train.train_steps={STEPS}", f"checkpoint.save_interval={SAVE_EVERY}"]  # fmt: skip
    ckpt = tmp_path / "train" / "ckpt"
    stage = Stage("train", ["infir", "train", "pretrain_tiny", *overrides, f"checkpoint.dir={ckpt}"])
    (sub,) = submit_chain(Chain([stage]), slurm, tmp_path)
    # a failed assertion must not leave the job holding the shared node (a no-op once it has finished)
    request.addfinalizer(lambda: subprocess.run(["scancel", sub.job_id], capture_output=True))
    log_name = f"train_{sub.job_id}.out"

    deadline = time.time() + 120
    while not _checkpoint_steps(ckpt):
        info = _job(sub.job_id)
        assert info.get("JobState") in ("PENDING", "RUNNING", "CONFIGURING"), info
        assert time.time() < deadline, "no checkpoint within 120 s"
        time.sleep(0.1)
    # what SLURM does before preemption / the time limit: the preemption signal to the batch shell
    subprocess.run(["scancel", "--batch", "--signal=USR1", sub.job_id], check=True)
    # the trap's `scontrol requeue` sends the job back to PENDING (had training finished first: COMPLETED)
    while _job(sub.job_id).get("JobState") not in ("PENDING", "COMPLETED", "FAILED"):
        assert time.time() < deadline + 60, _job(sub.job_id)
        time.sleep(0.1)
    assert _job(sub.job_id).get("JobState") == "PENDING", "training ended before the signal: raise STEPS"
    requeued_at = time.time()
    # A kill can land inside a save, leaving a partial step_N.tmp; leave one on purpose (the next save's
    # folder) so every run checks that the resume skips it, whatever the kill's timing was this time.
    partial = ckpt / "checkpoints" / f"step_{max(_checkpoint_steps(ckpt)) + SAVE_EVERY:07d}.tmp"
    partial.mkdir(exist_ok=True)
    (partial / "model.safetensors").write_bytes(b"\0" * 16)
    # SLURM holds a requeued job back ~2 minutes (BeginTime); a test need not wait that out, but it must
    # not start the job again before slurmd has finished the old run: a start while the node is still
    # COMPLETING, or within the second of the kill, is refused with "Job credential revoked" (FAILED).
    _wait_node_released(requeued_at)
    subprocess.run(["scontrol", "update", f"JobId={sub.job_id}", "StartTime=now"], check=True)

    # The uninterrupted reference, in-process while the requeued job runs (each on one of the 2 cores).
    ref_dir = tmp_path / "reference"
    cfg = resolve(get_recipe("pretrain_tiny"), overrides=[*overrides, f"checkpoint.dir={ref_dir}"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        reference = train(cfg)
    finally:
        torch.set_num_threads(threads)
    assert reference.resumed_from == 0 and len(reference.losses) == STEPS

    jobs = _wait([sub.job_id], timeout=240)
    log = (tmp_path / "train" / log_name).read_text()
    assert jobs[sub.job_id]["JobState"] == "COMPLETED", log[-3000:]
    assert int(jobs[sub.job_id]["Restarts"]) >= 1
    assert "caught SIGUSR1: requeueing job" in log
    restarts = [int(r) for r in re.findall(rf"^job {sub.job_id} restart (\d+) on ", log, flags=re.M)]
    assert restarts[0] == 0 and max(restarts) >= 1, restarts
    # the rerun picked up a checkpoint from inside the run, not a fresh start and not the final step
    resumed = [int(s) for s in re.findall(r"^resuming from \S+ \(step (\d+), ", log, flags=re.M)]
    assert resumed and 0 < resumed[-1] < STEPS and resumed[-1] % SAVE_EVERY == 0, log[-3000:]
    assert log.count("[pretrain_tiny] done:") == 1

    rows = _trajectory(ckpt)
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))  # none missing, none duplicated
    consumed = [i for r in rows for i in range(*r["samples"])]
    assert consumed == list(range(STEPS * cfg.train.global_batch_size))  # no sample replayed or skipped
    assert [r["loss"] for r in rows] == [r["loss"] for r in _trajectory(ref_dir)] == reference.losses
    assert stage.is_done(tmp_path) and (ckpt / "export" / "model.safetensors").is_file()
    assert not partial.exists()  # the rerun's own save of that step replaced it


def _ray_processes(port: int) -> list[str]:
    out = subprocess.run(
        ["pgrep", "-af", f"(gcs_server|raylet).*{port}"], capture_output=True, text=True
    ).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]


@pytest.mark.slow
def test_ray_curation_stage_starts_its_own_cluster(slurm, tmp_path, monkeypatch):
    """A `--executor ray` curation stage starts a Ray head in its allocation (workers on further nodes), its
    driver joins it with --ray-address, the output equals an in-process run, and no Ray process outlives
    the job."""
    from dataclasses import replace

    from infir.curation.decontam_cli import build_index_cmd
    from infir.curation.pipeline import run_pipeline

    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")  # sbatch exports it
    port = 6391  # not Ray's default, so nothing else on the machine is mistaken for this cluster
    index = tmp_path / "bench.npz"
    from click.testing import CliRunner

    assert CliRunner().invoke(build_index_cmd, ["--humaneval", "--out", str(index)]).exit_code == 0
    corpus = ROOT / "data/demo/web"
    argv = ["infir", "curate", "demo_web", "--input", str(corpus), "--output", str(tmp_path / "ray_out"),
            "--executor", "ray", "--quiet", f"decontam_index={index}"]  # fmt: skip
    stage = Stage("curate_web", argv)
    subs = submit_chain(Chain([stage]), replace(slurm, ray_port=port), tmp_path)
    try:
        jobs = _wait([subs[0].job_id], timeout=300)
        log = next((tmp_path / "curate_web").glob("curate_web_*.out")).read_text()
        assert jobs[subs[0].job_id]["JobState"] == "COMPLETED", log[-3000:]
        script = (tmp_path / "curate_web" / "curate_web.sbatch").read_text()
        assert "ray start --head" in script and "--ray-address=$INFIR_RAY_ADDRESS" in script
        head = re.search(r"ray cluster: head (\S+):(\d+), 1 node", log)
        assert head and int(head[2]) == port, log[-3000:]
        assert f"({head[1]}:{port})" in log  # the driver joined that cluster instead of starting one
        local = run_pipeline("demo_web", [corpus], tmp_path / "local_out", overrides=[f"decontam_index={index}"],
                             quiet=True)  # fmt: skip
        assert local.to_json()["steps"]
        for sub in ("kept", "rejects"):
            for p in sorted((tmp_path / "local_out" / sub).glob("*.jsonl")):
                assert (tmp_path / "ray_out" / sub / p.name).read_bytes() == p.read_bytes(), p.name
        # nothing left that a later plain ray.init() on this node would join
        current = Path("/tmp/ray/ray_current_cluster")
        assert not current.is_file() or f":{port}" not in current.read_text()
        end = time.time() + 30
        while _ray_processes(port) and time.time() < end:
            time.sleep(0.5)
        assert not _ray_processes(port)
    finally:
        for line in _ray_processes(port):
            os.kill(int(line.split()[0]), 9)
