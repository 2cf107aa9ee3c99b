"""Run directories on both sides of the container mounts, and each training job's real data-parallel size."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from infir.config import ConfigError
from infir.launcher.chain import Resources, Stage
from infir.launcher.cluster import load_cluster
from infir.launcher.layout import RunDirs, run_dirs, training_layout

ROOT = Path(__file__).resolve().parents[2]
H100 = load_cluster(ROOT / "conf/cluster/h100_8x8.yaml")  # mounts /lustre/data:/data, /lustre/runs:/runs


def test_run_dir_defaults_under_the_runs_mount_and_maps_either_side():
    assert run_dirs(H100, None, "/home/me/repo") == RunDirs("/lustre/runs/infir", "/runs/infir")
    assert run_dirs(H100, "/runs/exp1", "/x") == RunDirs("/lustre/runs/exp1", "/runs/exp1")
    assert run_dirs(H100, "/lustre/runs/exp1", "/x") == RunDirs("/lustre/runs/exp1", "/runs/exp1")
    assert run_dirs(H100, "/lustre/data/scratch", "/x") == RunDirs("/lustre/data/scratch", "/data/scratch")
    # relative: under the submit directory, which must itself be mounted
    assert run_dirs(H100, "exp2", "/lustre/runs") == RunDirs("/lustre/runs/exp2", "/runs/exp2")
    with pytest.raises(ConfigError, match="under none of the container mounts") as err:
        run_dirs(H100, "runs/infir", "/home/me/repo")
    assert err.value.path == "--run-dir"
    # no container: one path, made absolute (an sbatch --output is relative to wherever sbatch ran)
    local = load_cluster(ROOT / "conf/cluster/local_slurm.yaml")
    assert run_dirs(local, None, "/home/me/repo") == RunDirs(
        "/home/me/repo/runs/infir", "/home/me/repo/runs/infir"
    )


def _train(name: str, *overrides: str, nodes: int = 8, gpus: int = 8) -> Stage:
    return Stage(name, ["infir", "train", name, *overrides], Resources(nodes=nodes, gpus_per_node=gpus))


def test_training_layout_shows_the_real_dp_and_refuses_a_batch_that_does_not_split():
    line = training_layout(_train("pretrain_900b"), H100)
    assert "8 nodes x 8 GPUs = 64; tp 1 x pp 1 x cp 1 -> dp 64" in line
    assert "global batch 2048 = micro 4 x dp 64 x 8 accumulation steps" in line
    cp = training_layout(_train("sft_long_cot", nodes=2), H100)
    assert "tp 1 x pp 1 x cp 2 -> dp 8" in cp  # context parallelism takes GPUs from dp
    assert "tp 2 x pp 1 x cp 1 -> dp 32" in training_layout(_train("pretrain_900b", "parallel.tp=2"), H100)
    with pytest.raises(ConfigError, match="2048 does not split over dp 24") as err:
        training_layout(_train("pretrain_900b", nodes=3), H100)
    assert err.value.path == "pretrain_900b.train.global_batch_size"
    with pytest.raises(ConfigError, match="6 GPUs do not split into tp 4"):
        training_layout(_train("pretrain_900b", "parallel.tp=4", nodes=1, gpus=6), H100)
    assert training_layout(_train("pretrain_tiny", gpus=0), H100) is None  # CPU stage: no GPU layout
    assert training_layout(Stage("tok", ["infir", "tokenize"]), H100) is None


def test_launch_dry_run_prints_host_and_job_paths_and_the_layout():
    cmd = [sys.executable, "-m", "infir.cli", "launch", "infir", "--cluster", "h100_8x8", "--dry-run"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "# run dir: /lustre/runs/infir on the host, /runs/infir in the jobs" in out.stdout
    assert "#SBATCH --output=/lustre/runs/infir/pretrain_900b/pretrain_900b_%j.out" in out.stdout
    assert "# layout: pretrain_900b: 8 nodes x 8 GPUs = 64; tp 1 x pp 1 x cp 1 -> dp 64" in out.stdout
    bad = subprocess.run([*cmd, "--run-dir", "/tmp/elsewhere"], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "under none of the container mounts" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_layout_reads_the_recipe_wherever_infir_train_sits_in_argv(tmp_path):
    """A stage may call infir by a full path after a wrapper, and pass --config layers: the layout reads
    the recipe, the YAML layers and the overrides from the right places (from a mutation run)."""
    layer = tmp_path / "par.yaml"
    layer.write_text("parallel:\n  pp: 2\n")
    argv = ["/usr/bin/env", "/opt/venv/bin/infir", "train", "pretrain_900b", "--config", str(layer),
            "parallel.tp=2", "train.micro_batch_size=2"]  # fmt: skip
    line = training_layout(Stage("pretrain_900b", argv, Resources(nodes=8, gpus_per_node=8)), H100)
    assert "tp 2 x pp 2 x cp 1 -> dp 16; global batch 2048 = micro 2 x dp 16 x 64 accumulation steps" in line
    three = _train("pretrain_900b", "parallel.tp=2", "parallel.pp=2", "parallel.cp=2")
    assert "tp 2 x pp 2 x cp 2 -> dp 8" in training_layout(three, H100)
    with pytest.raises(ConfigError, match="40 GPUs do not split into tp 2 x pp 2 x cp 4"):
        training_layout(
            _train("pretrain_900b", "parallel.tp=2", "parallel.pp=2", "parallel.cp=4", nodes=5), H100
        )
    assert training_layout(Stage("x", ["infir", "eval", "train"], Resources(gpus_per_node=8)), H100) is None


def test_vlm_layout_and_a_profile_without_an_image():
    vlm = training_layout(_train("vlm_stage1_projector"), H100)
    assert "tp 1 x pp 1 x cp 1 -> dp 64; global batch 256 = micro 4 x dp 64 x 1 accumulation steps" in vlm
    bare = load_cluster(ROOT / "conf/cluster/h100_8x8.yaml", ["container_image=null", "stage_images={}"])
    assert training_layout(_train("pretrain_900b"), bare).endswith("image -")


def test_run_dir_mapping_needs_a_container_and_picks_the_runs_mount():
    curation_only = load_cluster(ROOT / "conf/cluster/h100_8x8.yaml", ["container_image=null"])
    assert run_dirs(curation_only, None, "/x") == RunDirs("/lustre/runs/infir", "/runs/infir")  # stage images
    mounted_no_image = load_cluster(
        ROOT / "conf/cluster/local_slurm.yaml", ["container_mounts=[/lustre/runs:/runs]"]
    )
    assert run_dirs(mounted_no_image, None, "/home/me") == RunDirs(
        "/home/me/runs/infir", "/home/me/runs/infir"
    )
    scratch_first = load_cluster(
        ROOT / "conf/cluster/h100_8x8.yaml",
        ["container_mounts=[/lustre/scratch:/scratch, /lustre/runs:/runs]"],
    )
    assert run_dirs(scratch_first, None, "/x") == RunDirs("/lustre/runs/infir", "/runs/infir")


def test_layout_ignores_a_wrappers_env_assignments_and_other_infir_commands(tmp_path):
    """From the second layout mutation run: `env NAME=VALUE infir train ...` (the assignment is not an
    override), a --config layer last after an override, and `infir vlm ...` with GPUs is no training job."""
    layer = tmp_path / "pp.yaml"
    layer.write_text("parallel:\n  pp: 2\n")
    argv = ["env", "NCCL_DEBUG=INFO", "/opt/venv/bin/infir", "train", "pretrain_900b", "parallel.tp=2",
            "--config", str(layer)]  # fmt: skip
    line = training_layout(Stage("pretrain_900b", argv, Resources(nodes=8, gpus_per_node=8)), H100)
    assert "tp 2 x pp 2 x cp 1 -> dp 16" in line
    vlm = Stage(
        "clean", ["infir", "vlm", "clean", "--config", "conf/vlm/clean.yaml"], Resources(gpus_per_node=8)
    )
    assert training_layout(vlm, H100) is None


def test_layout_products_with_unequal_parallel_sizes_and_batches_that_almost_split():
    assert "tp 4 x pp 2 x cp 1 -> dp 8;" in training_layout(_train("pretrain_900b", "parallel.tp=4",
                                                                     "parallel.pp=2"), H100)  # fmt: skip
    # an odd dp: the world is a multiple of tp x pp x cp, not of twice that
    assert "1 nodes x 2 GPUs = 2; tp 2 x pp 1 x cp 1 -> dp 1" in training_layout(
        _train("pretrain_900b", "parallel.tp=2", nodes=1, gpus=2), H100
    )
    with pytest.raises(ConfigError, match="64 does not split over dp 64 x micro batch 2"):
        training_layout(
            _train("pretrain_900b", "train.global_batch_size=64", "train.micro_batch_size=2"), H100
        )


def test_layout_finds_infir_train_anywhere_and_nothing_else():
    late = ["a", "b", "c", "d", "/x/infir", "train", "pretrain_900b"]  # infir train past the argv's middle
    assert "-> dp 64" in training_layout(Stage("p", late, Resources(nodes=8, gpus_per_node=8)), H100)
    for argv in (["python", "train", "x.py"], ["bash", "train", "x.sh"], ["env", "infir", "train"]):
        assert training_layout(Stage("s", argv, Resources(gpus_per_node=8)), H100) is None, argv
    # pp x cp where pp ** cp differs from pp * cp: 8 GPUs hold exactly one replica
    assert "tp 1 x pp 2 x cp 4 -> dp 1;" in training_layout(
        _train("pretrain_900b", "parallel.pp=2", "parallel.cp=4", nodes=1, gpus=8), H100
    )


def test_layout_after_several_env_assignments_and_a_single_replica_of_tp_x_pp():
    argv = ["env", "A=1", "B=2", "C=3", "infir", "train", "pretrain_900b"]  # none of them is an override
    assert "-> dp 64" in training_layout(Stage("p", argv, Resources(nodes=8, gpus_per_node=8)), H100)
    assert "tp 4 x pp 2 x cp 1 -> dp 1;" in training_layout(
        _train("pretrain_900b", "parallel.tp=4", "parallel.pp=2", nodes=1, gpus=8), H100
    )
