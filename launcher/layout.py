"""Where a chain runs: the run directory on both sides of the container, and each training job's real
data-parallel size.

The batch shell of an sbatch job runs on the node, outside the container: its `--output` log, the saved
script and the done markers need host paths. The stage's own command runs inside the container (pyxis),
where the same folder sits at the mount's container path. A run directory outside every mount would leave
a stage's outputs inside the container, gone when the job ends: refused.

A recipe's `parallel.dp` is what a single process sees (1); on the cluster Megatron computes it from the
world size, dp = nodes x GPUs / (tp x pp x cp). The dry run prints that for each training stage and a
submission refuses a layout whose batch does not split (the same check Megatron makes after the queue wait).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from infir.config import ConfigError
from infir.launcher.chain import Stage
from infir.launcher.cluster import ClusterConfig, image_for

#: the container path whose mount holds run directories by default
RUNS_MOUNT = "/runs"


@dataclass(frozen=True)
class RunDirs:
    host: str  # sbatch --output, scripts, done markers (the batch shell, on the node)
    job: str  # what the stage's command sees as {run_dir} (inside the container, or = host without one)


def _mounts(cluster: ClusterConfig) -> list[tuple[PurePosixPath, PurePosixPath]]:
    return [
        (PurePosixPath(m.split(":")[0]), PurePosixPath(m.split(":")[1])) for m in cluster.container_mounts
    ]


def _under(path: PurePosixPath, root: PurePosixPath) -> PurePosixPath | None:
    try:
        return path.relative_to(root)
    except ValueError:
        return None


def run_dirs(cluster: ClusterConfig, given: str | None, cwd: str) -> RunDirs:
    """The run directory on the host and in the job. `given` may be either side of a mount (`/runs/x` or
    `/lustre/runs/x`); None puts it under the mount whose container side is /runs, else under `cwd`."""
    containers = bool(cluster.container_image or cluster.stage_images) and not cluster.local
    mounts = _mounts(cluster)
    if given is None:
        runs = next(((src, dst) for src, dst in mounts if dst == PurePosixPath(RUNS_MOUNT)), None)
        if runs is not None and containers:
            return RunDirs(str(runs[0] / "infir"), str(runs[1] / "infir"))
        given = "runs/infir"
    path = PurePosixPath(given)
    if not path.is_absolute():  # a relative --output in an sbatch header is relative to where sbatch ran
        path = PurePosixPath(cwd) / path
    if not containers:
        return RunDirs(str(path), str(path))
    for src, dst in mounts:
        if (rel := _under(path, dst)) is not None:
            return RunDirs(str(src / rel), str(path))
        if (rel := _under(path, src)) is not None:
            return RunDirs(str(path), str(dst / rel))
    raise ConfigError(
        "--run-dir",
        f"{path} is under none of the container mounts {cluster.container_mounts}: the stages would write "
        f"inside the container and lose it; give a path under a mount (default: {RUNS_MOUNT}/infir)",
    )


def _train_recipe(stage: Stage) -> tuple[str, list[str], list[str]] | None:
    argv = stage.argv
    for i in range(len(argv) - 2):
        if argv[i].rsplit("/", 1)[-1] == "infir" and argv[i + 1] == "train":
            rest = argv[i + 3 :]
            configs = [rest[j + 1] for j, a in enumerate(rest[:-1]) if a in ("--config", "-c")]
            return argv[i + 2], configs, [a for a in rest if "=" in a and not a.startswith("-")]
    return None


def training_layout(stage: Stage, cluster: ClusterConfig) -> str | None:
    """One line: world size, tp x pp x cp, the real dp and how the global batch splits; None for a stage
    that is not a GPU training job. A layout that cannot run is a ConfigError naming the stage."""
    from infir.launcher.sbatch import stage_shape

    parsed = _train_recipe(stage)
    shape = stage_shape(stage, cluster)
    nodes, gpus = int(shape["nodes"]), int(shape["gpus_per_node"])  # type: ignore[arg-type]
    if parsed is None or gpus == 0:
        return None
    from infir.config import resolve
    from infir.recipes.registry import get_recipe

    recipe, configs, overrides = parsed
    cfg = resolve(get_recipe(recipe), configs, overrides)
    world = nodes * gpus
    par = getattr(cfg, "parallel", None)
    tp, pp, cp = (par.tp, par.pp, par.cp) if par is not None else (1, 1, 1)
    if world % (tp * pp * cp):
        raise ConfigError(
            f"{stage.name}.parallel", f"{world} GPUs do not split into tp {tp} x pp {pp} x cp {cp}"
        )
    dp = world // (tp * pp * cp)
    batch = getattr(cfg, "train", cfg)  # the LLM recipes keep them under train:, the VLM ones at the top
    gbs, mbs = batch.global_batch_size, batch.micro_batch_size
    if gbs % (mbs * dp):
        raise ConfigError(f"{stage.name}.train.global_batch_size",
                          f"{gbs} does not split over dp {dp} x micro batch {mbs} on {world} GPUs")  # fmt: skip
    return (f"{stage.name}: {nodes} nodes x {gpus} GPUs = {world}; tp {tp} x pp {pp} x cp {cp} -> dp {dp}; "
            f"global batch {gbs} = micro {mbs} x dp {dp} x {gbs // (mbs * dp)} accumulation steps; "
            f"image {image_for(cluster, stage.name) or '-'}")  # fmt: skip
