"""Whole sbatch scripts (launcher/sbatch.py) for the cases the 64-GPU golden file does not cover: the srun
launcher with every site field set (partition, account, mem, env, mounts, workdir, a B: signal, extra
flags), a CPU job without a container or requeue, and a Ray curation stage in a per-stage image. Each
text was read line by line when it was pinned; `bash -n` checks each parses."""

import subprocess

from infir.launcher.chain import Resources, Stage
from infir.launcher.cluster import ClusterConfig
from infir.launcher.sbatch import pyxis_flags, render, stage_shape, write_script

SITE = ClusterConfig(
    name="site", partition="gpu", account="proj", nodes=2, gpus_per_node=4, cpus_per_task=16, mem="0",
    time="02:00:00", container_image="nvcr.io#nvidia/nemo:25.07", stage_images={"curate*": "/img/cpu.sqsh"},
    container_mounts=["/data:/data", "/runs:/runs"], container_workdir="/work", env={"B": "two words", "A": "1"},
    signal="B:USR2@60", launcher="srun", extra_sbatch=["--exclusive"],
)  # fmt: skip

SRUN_GPU_JOB = r"""#!/bin/bash
# infir launch: stage 'sft' on cluster profile 'site'
#SBATCH --job-name=infir-sft
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=4
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=16
#SBATCH --partition=gpu
#SBATCH --account=proj
#SBATCH --mem=0
#SBATCH --time=00:30:00
#SBATCH --output=/host/runs/sft/sft_%j.out
#SBATCH --open-mode=append
#SBATCH --requeue
#SBATCH --signal=B:USR2@60
#SBATCH --exclusive

set -euo pipefail
export A=1
export B='two words'
export INFIR_RUN_DIR=/runs INFIR_STAGE=sft
export PYTHONUNBUFFERED=1
MARKER=/host/runs/sft/DONE
if [ -f "$MARKER" ]; then echo "stage already done ($MARKER), nothing to do"; exit 0; fi
echo "job $SLURM_JOB_ID restart ${SLURM_RESTART_COUNT:-0} on $SLURM_JOB_NODELIST at $(date -Is)"
HEAD_NODE=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
export HEAD_NODE
# Preemption or time limit: requeue; the stage resumes from its latest checkpoint.
requeue() {
  echo "caught SIGUSR2: requeueing job $SLURM_JOB_ID"
  scontrol requeue "$SLURM_JOB_ID"
  exit 0
}
trap requeue USR2
# Preflight: the container must hold the validated versions (containers/bridge-pins.txt)
if ! srun --nodes=1 --ntasks=1 '--container-image=nvcr.io#nvidia/nemo:25.07' --container-mounts=/data:/data,/runs:/runs --container-workdir=/work python containers/check_imports.py > "/host/runs/sft/preflight_$SLURM_JOB_ID.log" 2>&1; then
  echo "preflight failed: nvcr.io#nvidia/nemo:25.07 is not the validated container; see /host/runs/sft/preflight_$SLURM_JOB_ID.log" >&2
  exit 1
fi
# srun in the background + wait, so the trap runs as soon as the signal arrives
srun \
    --kill-on-bad-exit=1 \
    '--container-image=nvcr.io#nvidia/nemo:25.07' \
    --container-mounts=/data:/data,/runs:/runs \
    --container-workdir=/work \
    infir \
    train \
    sft \
    optim.lr=1e-5 &
wait $!
mkdir -p "$(dirname "$MARKER")" && date -Is > "$MARKER"
echo "stage done at $(date -Is)"
"""

CPU_JOB = r"""#!/bin/bash
# infir launch: stage 'tok' on cluster profile 'cpu'
#SBATCH --job-name=infir-tok
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=4
#SBATCH --mem=8G
#SBATCH --time=01:00:00
#SBATCH --output=runs/tok/tok_%j.out
#SBATCH --open-mode=append

set -euo pipefail
export INFIR_RUN_DIR=runs INFIR_STAGE=tok
export PYTHONUNBUFFERED=1
MARKER=/abs/DONE
if [ -f "$MARKER" ]; then echo "stage already done ($MARKER), nothing to do"; exit 0; fi
echo "job $SLURM_JOB_ID restart ${SLURM_RESTART_COUNT:-0} on $SLURM_JOB_NODELIST at $(date -Is)"
HEAD_NODE=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
export HEAD_NODE
# srun in the background + wait, so the trap runs as soon as the signal arrives
srun \
    --kill-on-bad-exit=1 \
    infir \
    tokenize \
    'x y' &
wait $!
mkdir -p "$(dirname "$MARKER")" && date -Is > "$MARKER"
echo "stage done at $(date -Is)"
"""


def bash_parses(text, tmp_path):
    path = tmp_path / "job.sbatch"
    path.write_text(text)
    subprocess.run(["bash", "-n", str(path)], check=True)


def test_srun_launcher_with_every_site_field(tmp_path):
    stage = Stage("sft", ["infir", "train", "sft", "optim.lr=1e-5"], Resources(nodes=1, time="00:30:00"))
    text = render(stage, SITE, "/host/runs", "/runs")
    assert text == SRUN_GPU_JOB
    bash_parses(text, tmp_path)


def test_cpu_job_without_container_or_requeue(tmp_path):
    stage = Stage(
        "tok", ["infir", "tokenize", "x y"], Resources(cpus_per_task=4, mem="8G"), done_marker="/abs/DONE"
    )
    text = render(stage, ClusterConfig(name="cpu", requeue=False), "runs")
    assert text == CPU_JOB
    bash_parses(text, tmp_path)


def test_a_signal_without_b_is_sent_to_the_batch_shell():
    stage = Stage("x", ["infir", "eval"])
    text = render(stage, ClusterConfig(signal="TERM@30"), "/r")
    assert "#SBATCH --signal=B:TERM@30" in text and "trap requeue TERM" in text
    assert 'echo "caught SIGTERM: requeueing job $SLURM_JOB_ID"' in text


def test_a_ray_curation_stage_runs_its_driver_on_the_head_in_its_own_image(tmp_path):
    cluster = ClusterConfig(name="site", gpus_per_node=8, container_image="/img/gpu.sqsh",
                            stage_images={"curate*": "/img/cpu.sqsh"}, ray_port=6400)  # fmt: skip
    argv = ["infir", "curate", "web", "--executor", "ray", "--output", "$X"]
    text = render(Stage("curate_web", argv, Resources(nodes=2, gpus_per_node=0)), cluster, "/r")
    assert "RAY_PORT=6400" in text and "/img/gpu.sqsh" not in text
    assert "Preflight" not in text and "--gpus-per-node" not in text  # a CPU stage: no GPU, no preflight
    assert text.split("# srun in the background + wait, so the trap runs as soon as the signal arrives\n")[
        1
    ] == (
        "srun \\\n    --kill-on-bad-exit=1 \\\n    --overlap \\\n    --nodes=1 \\\n    --ntasks=1 \\\n"
        "    --nodelist=$HEAD_NODE \\\n    --container-image=/img/cpu.sqsh \\\n    infir \\\n    curate \\\n"
        "    web \\\n    --executor \\\n    ray \\\n    --output \\\n    '$X' \\\n"
        "    --ray-address=$INFIR_RAY_ADDRESS &\nwait $!\n"
        'mkdir -p "$(dirname "$MARKER")" && date -Is > "$MARKER"\necho "stage done at $(date -Is)"\n'
    )
    bash_parses(text, tmp_path)


def test_torchrun_only_for_gpu_jobs_and_srun_tasks_per_gpu():
    cluster = ClusterConfig(gpus_per_node=8, master_port=31000)
    gpu = render(Stage("t", ["infir", "train", "x"]), cluster, "/r")
    assert "    torchrun \\\n" in gpu and "--rdzv-endpoint=$HEAD_NODE:31000" in gpu
    assert "#SBATCH --ntasks-per-node=1\n" in gpu and "#SBATCH --gpus-per-node=8\n" in gpu
    cpu = render(Stage("t", ["infir", "train", "x"], Resources(gpus_per_node=0)), cluster, "/r")
    assert "torchrun" not in cpu and "--gpus-per-node" not in cpu
    srun_cpu = render(Stage("t", ["x"], Resources(gpus_per_node=0)), ClusterConfig(launcher="srun"), "/r")
    assert "#SBATCH --ntasks-per-node=1\n" in srun_cpu


def test_stage_shape_takes_the_profiles_values_where_the_stage_sets_none():
    cluster = ClusterConfig(nodes=3, gpus_per_node=2, cpus_per_task=5, mem="9G", time="03:00:00")
    assert stage_shape(Stage("s", ["x"]), cluster) == {
        "nodes": 3, "gpus_per_node": 2, "cpus_per_task": 5, "mem": "9G", "time": "03:00:00"}  # fmt: skip
    own = Resources(nodes=1, gpus_per_node=0, cpus_per_task=1, mem="1G", time="00:01:00")
    assert stage_shape(Stage("s", ["x"], own), cluster) == {
        "nodes": 1, "gpus_per_node": 0, "cpus_per_task": 1, "mem": "1G", "time": "00:01:00"}  # fmt: skip


def test_pyxis_flags():
    assert pyxis_flags(ClusterConfig()) == []
    assert pyxis_flags(ClusterConfig(), "/own.sqsh") == ["--container-image=/own.sqsh"]
    assert pyxis_flags(SITE) == ["--container-image=nvcr.io#nvidia/nemo:25.07",
                                 "--container-mounts=/data:/data,/runs:/runs", "--container-workdir=/work"]  # fmt: skip
    assert pyxis_flags(SITE, "/img/cpu.sqsh")[0] == "--container-image=/img/cpu.sqsh"


def test_a_one_gpu_job_in_a_container_checks_its_image_first():
    one = render(Stage("e", ["infir", "eval"], Resources(gpus_per_node=1)), SITE, "/r")
    assert "# Preflight: the container must hold the validated versions" in one
    assert "#SBATCH --ntasks-per-node=1\n" in one and "#SBATCH --gpus-per-node=1\n" in one


def test_scripts_are_written_beside_the_stages_logs_and_rewritten(tmp_path):
    stage = Stage("tok", ["infir", "tokenize"])
    run_dir = tmp_path / "new" / "run"
    path = write_script(stage, ClusterConfig(), run_dir)
    assert path == run_dir / "tok" / "tok.sbatch" and path.read_text().startswith("#!/bin/bash")
    assert write_script(stage, ClusterConfig(requeue=False), run_dir) == path  # a rerun writes it again
    assert "--requeue" not in path.read_text()
