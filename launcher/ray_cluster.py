"""A Ray cluster inside a SLURM allocation, for curation stages run with `--executor ray`.

The head starts on the first node and one worker on every other node, each as its own background
`srun --overlap` step in the stage's container, with the node's CPUs (`--cpus-per-task`). The pipeline's
driver then runs on the head node with `--ray-address`, and the cluster is stopped when the script exits
(the steps are killed; `ray start --block` stops its processes on SIGTERM). Ray's token authentication is
on, with a random token made for the job. This is the layout of Ray's and
NeMo Curator's SLURM examples, written as lines of the stage's sbatch script (sbatch.py) so that what runs
is visible in the saved script.
"""

from __future__ import annotations

import shlex

from infir.launcher.chain import Stage
from infir.launcher.cluster import ClusterConfig


def is_ray_stage(stage: Stage) -> bool:
    """A curation stage that asks for Ray and names no cluster of its own."""
    argv = list(stage.argv)
    wants_ray = any(a == "--executor" and argv[i + 1 : i + 2] == ["ray"] for i, a in enumerate(argv))
    return wants_ray and "curate" in argv[:3] and not any(a.startswith("--ray-address") for a in argv)


def _srun_on(node: str, container: list[str]) -> str:
    flags = ["srun", "--overlap", "--nodes=1", "--ntasks=1", f"--nodelist={node}", *container]
    return " ".join(f if "$" in f else shlex.quote(f) for f in flags)


def bootstrap_lines(cluster: ClusterConfig, container: list[str]) -> list[str]:
    """Bash lines that start the cluster and export INFIR_RAY_ADDRESS (head IP:port) for the driver."""
    on_head, on_node = _srun_on('"$HEAD_NODE"', container), _srun_on('"$node"', container)
    common = '--num-cpus="$SLURM_CPUS_PER_TASK" --disable-usage-stats --block'
    return [
        "# Ray cluster in this allocation: head on the first node, a worker on each other node (launcher/ray_cluster.py)",
        f"RAY_PORT={cluster.ray_port}",
        # the head's first non-loopback address (`hostname --ip-address` can answer 127.0.x.1, which Ray's
        # own node-IP detection then contradicts)
        f"RAY_HEAD_IP=$({_srun_on('$HEAD_NODE', [])} hostname -I | awk '{{print $1}}')",
        # a token only this job's steps know (the environment reaches every srun step and its container):
        # without it, anyone who can reach the port could run code as this user on the cluster
        "export RAY_AUTH_MODE=token",
        "RAY_AUTH_TOKEN=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \\n')",
        "export RAY_AUTH_TOKEN",
        'export INFIR_RAY_ADDRESS="$RAY_HEAD_IP:$RAY_PORT"',
        "RAY_STEPS=()",
        'stop_ray() { if [ ${#RAY_STEPS[@]} -gt 0 ]; then kill "${RAY_STEPS[@]}" 2>/dev/null || true; '
        'wait "${RAY_STEPS[@]}" 2>/dev/null || true; fi; }',
        "trap stop_ray EXIT",
        # a per-job temp dir: `ray start` records its address in <temp dir>/ray_current_cluster, and the
        # shared /tmp/ray one would make a later plain ray.init() on the node join this (dead) cluster
        f'{on_head} ray start --head --node-ip-address="$RAY_HEAD_IP" --port="$RAY_PORT" '
        f'--temp-dir="/tmp/ray_job$SLURM_JOB_ID" --include-dashboard=false {common} &',
        "RAY_STEPS+=($!)",
        f"RAY_DEADLINE=$((SECONDS + {cluster.ray_start_timeout_s}))",
        f'until {on_head} ray health-check --address "$INFIR_RAY_ADDRESS" >/dev/null 2>&1; do',
        '  if [ "$SECONDS" -ge "$RAY_DEADLINE" ]; then',
        f'    echo "ray head did not answer on $INFIR_RAY_ADDRESS in {cluster.ray_start_timeout_s}s" >&2; exit 1',
        "  fi",
        "  sleep 1",
        "done",
        'for node in $(scontrol show hostnames "$SLURM_JOB_NODELIST" | tail -n +2); do',
        f'  {on_node} ray start --address="$INFIR_RAY_ADDRESS" {common} &',
        "  RAY_STEPS+=($!)",
        "done",
        'echo "ray cluster: head $INFIR_RAY_ADDRESS, $SLURM_NNODES node(s)"',
    ]


def driver_flags() -> list[str]:
    """srun flags that put the pipeline's driver on the head node, beside the Ray head's step."""
    return ["--overlap", "--nodes=1", "--ntasks=1", "--nodelist=$HEAD_NODE"]
