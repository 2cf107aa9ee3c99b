"""Cluster profiles (conf/cluster/*.yaml): where and how a stage's sbatch job runs.

A profile holds the site's defaults (partition, account, node shape, container); a stage's own
`resources` (chain.py) override the node/GPU shape per stage, so one profile serves CPU curation jobs
and the 64-GPU pretrain job alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from infir.config import fail, resolve

_TIME = re.compile(r"^(\d+-)?\d{1,2}(:\d{2}){0,2}$")
_SIGNAL = re.compile(r"^(B:)?[A-Z0-9]+@\d+$")


@dataclass
class ClusterConfig:
    """One SLURM site (or `local: true` for the subprocess executor)."""

    name: str = "local"
    partition: str | None = None
    account: str | None = None
    nodes: int = field(default=1, metadata={"ge": 1})
    gpus_per_node: int = field(default=0, metadata={"ge": 0})
    cpus_per_task: int = field(default=1, metadata={"ge": 1})
    mem: str | None = None  # SLURM syntax: "0" (all of the node), "64G", ...
    time: str = "01:00:00"
    container_image: str | None = None  # pyxis: registry#image:tag@sha256:..., or a .sqsh path
    #: stage-name glob -> image for those stages (first match wins; others run container_image). Curation
    #: and tokenization run in the CPU image (containers/Dockerfile.curation: nemo-curator is not in
    #: NVIDIA's NeMo framework image), training and eval in the NeMo one.
    stage_images: dict[str, str] = field(default_factory=dict)
    container_mounts: list[str] = field(default_factory=list)  # "src:dst[:flags]"
    container_workdir: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    requeue: bool = True
    # Sent to the batch shell ("B:") this long before the time limit or on preemption; the script's
    # trap requeues the job, and `infir train` resumes from its latest checkpoint.
    signal: str = "USR1@120"
    launcher: Literal["torchrun", "srun"] = "torchrun"
    master_port: int = field(default=29500, metadata={"ge": 1024, "le": 65535})
    #: curation stages with `--executor ray` start a Ray cluster in their allocation (launcher/ray_cluster.py):
    #: its head's GCS port, and how long the head may take to answer
    ray_port: int = field(default=6379, metadata={"ge": 1024, "le": 65535})
    ray_start_timeout_s: int = field(default=120, metadata={"ge": 5})
    local: bool = False
    extra_sbatch: list[str] = field(default_factory=list)  # verbatim "--flag=value" lines

    def validate(self) -> None:
        if not _TIME.match(self.time):
            fail("time", f"expected SLURM time like 04:00:00 or 2-00:00:00, got {self.time!r}")
        if not _SIGNAL.match(self.signal):
            fail("signal", f"expected SIG@seconds like USR1@120, got {self.signal!r}")
        for i, mount in enumerate(self.container_mounts):
            if ":" not in mount:
                fail(f"container_mounts[{i}]", f"expected src:dst[:flags], got {mount!r}")
        for glob in self.stage_images:
            if not glob or not set(glob) <= set("abcdefghijklmnopqrstuvwxyz0123456789_-*?[]"):
                fail(f"stage_images.{glob}", "keys are stage-name globs like curate_* or tok_*")
        for i, flag in enumerate(self.extra_sbatch):
            if not flag.startswith("--"):
                fail(f"extra_sbatch[{i}]", f"expected an sbatch long flag like --qos=high, got {flag!r}")


def image_for(cluster: ClusterConfig, stage_name: str) -> str | None:
    """The container a stage runs in: the first `stage_images` glob matching its name, else the default."""
    from fnmatch import fnmatchcase

    return next((img for glob, img in cluster.stage_images.items() if fnmatchcase(stage_name, glob)),
                cluster.container_image)  # fmt: skip


def load_cluster(path: str | Path, overrides: Iterable[str] = ()) -> ClusterConfig:
    """Read a cluster profile (a YAML path, or a name under conf/cluster/: `h100_8x8`), then apply `a.b=c`
    overrides; errors name the field and file."""
    from infir.config import ConfigError
    from infir.paths import conf_file

    try:
        path = conf_file("cluster", str(path))
    except FileNotFoundError as exc:
        raise ConfigError("--cluster", str(exc)) from None
    cfg = resolve(ClusterConfig(), [path], overrides)
    if cfg.name == "local" and not cfg.local:
        cfg.name = Path(path).stem
    return cfg
