"""Render one stage as an sbatch script (pyxis/Enroot container flags, torchrun or srun rendezvous).

NeMo-Run 0.11's SlurmExecutor was checked first (it renders pyxis `--container-image/--container-mounts`
without a cluster), but it does not fit here, so this is a small string template instead:
- preemption: our requeue path needs `srun ... &` + `wait` so a `trap` on the `--signal=B:USR1@120`
  fires at once; NeMo-Run always runs srun in the foreground (bash defers traps until it exits) and only
  requeues after a non-zero exit;
- it adds a `<job_dir>:/nemo_run` mount and `--container-workdir /nemo_run/code` for its own packaging,
  and names jobs `<account>-<account>.<name>`; we run the repository installed in the container;
- it needs `leptonai<0.47` pinned and ~3 s of imports on the login node for a few lines of text.
tests/launcher/test_render.py checks our pyxis flags against NeMo-Run's rendering when it is installed.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from infir.launcher.chain import Stage
from infir.launcher.cluster import ClusterConfig, image_for
from infir.launcher.ray_cluster import bootstrap_lines, driver_flags, is_ray_stage


def _q(value: str | Path) -> str:
    return shlex.quote(str(value))


def stage_shape(stage: Stage, cluster: ClusterConfig) -> dict[str, object]:
    """The stage's resources with the cluster profile's defaults filled in."""
    r = stage.resources
    return {
        "nodes": r.nodes if r.nodes is not None else cluster.nodes,
        "gpus_per_node": r.gpus_per_node if r.gpus_per_node is not None else cluster.gpus_per_node,
        "cpus_per_task": r.cpus_per_task if r.cpus_per_task is not None else cluster.cpus_per_task,
        "mem": r.mem if r.mem is not None else cluster.mem,
        "time": r.time if r.time is not None else cluster.time,
    }


def pyxis_flags(cluster: ClusterConfig, image: str | None = None) -> list[str]:
    """srun flags that run the step inside the container (pyxis); empty without an image. `image` is the
    stage's own (`image_for`); None takes the profile's default."""
    image = image or cluster.container_image
    if not image:
        return []
    flags = [f"--container-image={image}"]
    if cluster.container_mounts:
        flags.append(f"--container-mounts={','.join(cluster.container_mounts)}")
    if cluster.container_workdir:
        flags.append(f"--container-workdir={cluster.container_workdir}")
    return flags


def _command(stage: Stage, cluster: ClusterConfig, shape: dict[str, object]) -> list[str]:
    gpus = int(shape["gpus_per_node"])  # type: ignore[arg-type]
    srun = ["srun", "--kill-on-bad-exit=1", *pyxis_flags(cluster, image_for(cluster, stage.name))]
    if is_ray_stage(stage):  # the driver joins the Ray cluster the script started (ray_cluster.py)
        return [*srun[:2], *driver_flags(), *srun[2:], *stage.argv, "--ray-address=$INFIR_RAY_ADDRESS"]
    if cluster.launcher == "torchrun" and gpus > 0:
        # one torchrun per node; it spawns one worker per GPU and meets the others at the head node
        return [
            *srun,
            "--ntasks-per-node=1",
            "torchrun",
            "--nnodes=$SLURM_NNODES",
            f"--nproc-per-node={gpus}",
            "--rdzv-backend=c10d",
            f"--rdzv-endpoint=$HEAD_NODE:{cluster.master_port}",
            "--rdzv-id=$SLURM_JOB_ID",
            "--no-python",
            *stage.argv,
        ]
    return [*srun, *stage.argv]


def render(
    stage: Stage, cluster: ClusterConfig, run_dir: str | Path, job_run_dir: str | Path | None = None
) -> str:
    """The sbatch script for `stage` on `cluster`, logging under <run_dir>/<stage>/ (host paths: the batch
    shell runs outside the container); the stage's command sees the folder as `job_run_dir`."""
    shape = stage_shape(stage, cluster)
    gpus = int(shape["gpus_per_node"])  # type: ignore[arg-type]
    stage_dir = Path(run_dir) / stage.name
    image = image_for(cluster, stage.name)
    lines = [
        "#!/bin/bash",
        f"# infir launch: stage {stage.name!r} on cluster profile {cluster.name!r}",
        *[f"#SBATCH {flag}" for flag in sbatch_flags(stage, cluster, shape, stage_dir)],
        "",
        "set -euo pipefail",
        *[f"export {k}={_q(v)}" for k, v in sorted(cluster.env.items())],
        f"export INFIR_RUN_DIR={_q(job_run_dir or run_dir)} INFIR_STAGE={_q(stage.name)}",
        "export PYTHONUNBUFFERED=1",
        f"MARKER={_q(stage.marker_path(run_dir))}",
        'if [ -f "$MARKER" ]; then echo "stage already done ($MARKER), nothing to do"; exit 0; fi',
        'echo "job $SLURM_JOB_ID restart ${SLURM_RESTART_COUNT:-0} on $SLURM_JOB_NODELIST at $(date -Is)"',
        'HEAD_NODE=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
        "export HEAD_NODE",
        *(_requeue_lines(cluster) if cluster.requeue else []),
        *(_preflight_lines(cluster, image, stage_dir) if gpus > 0 and image else []),
        *(bootstrap_lines(cluster, pyxis_flags(cluster, image)) if is_ray_stage(stage) else []),
    ]
    cmd = " \\\n    ".join(
        a if a.startswith("--") and "$" in a else _q(a) for a in _command(stage, cluster, shape)
    )
    lines += [
        "# srun in the background + wait, so the trap runs as soon as the signal arrives",
        f"{cmd} &",
        "wait $!",
        'mkdir -p "$(dirname "$MARKER")" && date -Is > "$MARKER"',
        'echo "stage done at $(date -Is)"',
        "",
    ]
    return "\n".join(lines)


def sbatch_flags(
    stage: Stage, cluster: ClusterConfig, shape: dict[str, object], stage_dir: Path
) -> list[str]:
    """The #SBATCH flags: the stage's shape, the site's partition/account, the log, requeue on a signal."""
    gpus = int(shape["gpus_per_node"])  # type: ignore[arg-type]
    per_node = gpus if (cluster.launcher == "srun" and gpus > 0) else 1
    sb = [f"--job-name=infir-{stage.name}", f"--nodes={shape['nodes']}", f"--ntasks-per-node={per_node}"]
    if gpus > 0:
        sb.append(f"--gpus-per-node={gpus}")
    sb.append(f"--cpus-per-task={shape['cpus_per_task']}")
    if cluster.partition:
        sb.append(f"--partition={cluster.partition}")
    if cluster.account:
        sb.append(f"--account={cluster.account}")
    if shape["mem"]:
        sb.append(f"--mem={shape['mem']}")
    sb += [f"--time={shape['time']}", f"--output={stage_dir}/{stage.name}_%j.out", "--open-mode=append"]
    if cluster.requeue:
        sig = cluster.signal if cluster.signal.startswith("B:") else f"B:{cluster.signal}"
        sb += ["--requeue", f"--signal={sig}"]
    return sb + cluster.extra_sbatch


def _requeue_lines(cluster: ClusterConfig) -> list[str]:
    sig_name = cluster.signal.removeprefix("B:").split("@")[0]
    return [
        "# Preemption or time limit: requeue; the stage resumes from its latest checkpoint.",
        "requeue() {",
        '  echo "caught SIG' + sig_name + ': requeueing job $SLURM_JOB_ID"',
        '  scontrol requeue "$SLURM_JOB_ID"',
        "  exit 0",
        "}",
        f"trap requeue {sig_name}",
    ]


def _preflight_lines(cluster: ClusterConfig, image: str, stage_dir: Path) -> list[str]:
    """A GPU job first checks that the image is the validated one (every import, TE included, at the
    versions of containers/bridge-pins.txt), so a wrong image fails in seconds with one line."""
    check = " ".join([_q(a) for a in ["srun", "--nodes=1", "--ntasks=1", *pyxis_flags(cluster, image)]])
    log = f"{stage_dir}/preflight_$SLURM_JOB_ID.log"
    return [
        "# Preflight: the container must hold the validated versions (containers/bridge-pins.txt)",
        f'if ! {check} python containers/check_imports.py > "{log}" 2>&1; then',
        f'  echo "preflight failed: {image} is not the validated container; see {log}" >&2',
        "  exit 1",
        "fi",
    ]


def write_script(
    stage: Stage, cluster: ClusterConfig, run_dir: str | Path, job_run_dir: str | Path | None = None
) -> Path:
    """Render and save as <run_dir>/<stage>/<stage>.sbatch, next to the stage's logs."""
    path = Path(run_dir) / stage.name / f"{stage.name}.sbatch"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(stage, cluster, run_dir, job_run_dir))
    return path
