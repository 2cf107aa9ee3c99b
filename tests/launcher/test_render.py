"""sbatch rendering: the 64-GPU pretrain job, pyxis flags, requeue trap, profiles and config errors."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from infir.config import ConfigError
from infir.launcher.chain import Chain, Resources, Stage, load_pipeline
from infir.launcher.cluster import load_cluster
from infir.launcher.sbatch import pyxis_flags, render, write_script
from infir.launcher.slurm import submit_chain

ROOT = Path(__file__).resolve().parents[2]
H100 = ROOT / "conf/cluster/h100_8x8.yaml"


def _sbatch_flags(text: str) -> dict[str, str]:
    return dict(re.findall(r"^#SBATCH --([\w-]+)(?:=(.*))?$", text, flags=re.M))


def test_pretrain_64gpu_render():
    cluster = load_cluster(H100)
    chain = load_pipeline(ROOT / "conf/pipelines/infir.yaml", "/runs/infir").only(["pretrain_900b"])
    text = render(chain.get("pretrain_900b"), cluster, "/lustre/runs/infir", "/runs/infir")
    flags = _sbatch_flags(text)
    assert flags["nodes"] == "8" and flags["gpus-per-node"] == "8" and flags["ntasks-per-node"] == "1"
    assert flags["signal"] == "B:USR1@120" and "requeue" in flags
    # the batch shell writes its log and marker on the host; the command inside sees the container path
    assert flags["output"] == "/lustre/runs/infir/pretrain_900b/pretrain_900b_%j.out"
    assert "MARKER=/lustre/runs/infir/pretrain_900b/DONE" in text
    assert (
        "export INFIR_RUN_DIR=/runs/infir " in text and "data.blend=/runs/infir/blend_pretrain.yaml" in text
    )
    # the image with the repo in it (containers/enroot_import.sh), not the stock NeMo image
    assert "--container-image=/lustre/containers/infir-nemo.sqsh" in text
    assert "--container-workdir=/workspace/infir-recipes" in text
    assert "infir \\\n    train \\\n    pretrain_900b" in text
    assert "--container-mounts=/lustre/data:/data,/lustre/runs:/runs" in text
    assert "--nproc-per-node=8" in text and "--rdzv-endpoint=$HEAD_NODE:29500" in text
    assert "trap requeue USR1" in text and "wait $!" in text
    assert int(flags["nodes"]) * int(flags["gpus-per-node"]) == 8 * 8
    # the file the lead pastes into the README is this exact rendering
    doc = (ROOT / "docs/launch_pretrain_64gpu.sbatch").read_text()
    assert text in doc and doc in (ROOT / "README.md").read_text()


def test_rendered_script_is_valid_bash(tmp_path):
    cluster = load_cluster(H100)
    for stage in load_pipeline(ROOT / "conf/pipelines/infir.yaml", tmp_path):
        path = write_script(stage, cluster, tmp_path)
        assert path == tmp_path / stage.name / f"{stage.name}.sbatch"
        subprocess.run(["bash", "-n", str(path)], check=True)


def test_cpu_stage_and_srun_launcher():
    cluster = load_cluster(ROOT / "conf/cluster/local_slurm.yaml")
    stage = Stage("curate", ["infir", "curate", "x y.yaml"])
    text = render(stage, cluster, "/r")
    assert "gpus-per-node" not in text and "torchrun" not in text and "--container" not in text
    assert "'x y.yaml'" in text  # argv is shell-quoted
    gpu = load_cluster(H100, ["launcher=srun"])
    flags = _sbatch_flags(render(Stage("sft", ["infir"]), gpu, "/r"))
    assert flags["ntasks-per-node"] == "8"


def test_one_gpu_eval_stage_asks_for_its_gpu():
    """An eval stage takes one GPU: the request must say so (a `> 1` check would drop it and SLURM would
    start the job on a node share with no GPU)."""
    one = Stage("eval_anneal", ["infir", "eval", "web_nll"], resources=Resources(nodes=1, gpus_per_node=1))
    flags = _sbatch_flags(render(one, load_cluster(H100), "/lustre/runs/infir"))
    assert flags["gpus-per-node"] == "1" and flags["nodes"] == "1" and flags["ntasks-per-node"] == "1"
    text = render(one, load_cluster(H100), "/lustre/runs/infir")
    assert "--nproc-per-node=1" in text and "--nnodes=$SLURM_NNODES" in text


def test_chain_dry_run_dependencies(tmp_path):
    chain = load_pipeline(ROOT / "conf/pipelines/infir.yaml", tmp_path)
    names = chain.names()
    for a, b in [("decontam", "curate_web"), ("mix_pretrain", "pretrain_900b"), ("anneal_40b", "sft")]:
        assert names.index(a) < names.index(b)
    (tmp_path / "decontam").mkdir()
    (tmp_path / "decontam" / "DONE").write_text("")
    subs = {s.stage: s for s in submit_chain(chain, load_cluster(H100), tmp_path, dry_run=True)}
    assert subs["decontam"].skipped and subs["curate_web"].dependency is None  # finished parent: no wait
    # every source, curated here or shipped, is deduplicated and decontaminated with all the others first
    assert (
        subs["dedup_global"].dependency == "afterok:<curate_web>:<curate_math>:<curate_code>:<curate_anneal>"
    )
    toks = [n for n in names if n.startswith("tok_")]
    assert len(toks) == 21 and all(subs[n].dependency == "afterok:<dedup_global>" for n in toks)
    argv = chain.get("dedup_global").argv
    labelled = [argv[i + 1].split("=", 1)[0] for i, a in enumerate(argv) if a == "--input"]
    assert sorted(labelled) == sorted(n.removeprefix("tok_") for n in toks)
    for n in toks:  # each tokenizes its own source's share of the global output
        assert str(tmp_path / "global/kept" / n.removeprefix("tok_")) in chain.get(n).argv
    assert subs["pretrain_900b"].dependency == "afterok:<mix_pretrain>"
    assert subs["anneal_40b"].dependency == "afterok:<pretrain_900b>:<mix_anneal>"
    assert subs["eval_sft_gsm8k"].dependency == "afterok:<sft>"
    # each blend waits for exactly the tokenize jobs of its mixture's sources
    for mix in ("pretrain", "anneal"):
        sources = yaml.safe_load((ROOT / f"conf/mixtures/{mix}.yaml").read_text())["sources"]
        deps = subs[f"mix_{mix}"].dependency.removeprefix("afterok:").split(":")
        assert sorted(deps) == sorted(f"<tok_{s}>" for s in sources)
    assert not (tmp_path / "pretrain_900b").exists()  # a dry run writes nothing


def test_config_errors_name_the_field(tmp_path):
    with pytest.raises(ConfigError, match="gpus_per_node"):
        load_cluster(H100, ["gpus_per_node=-1"])
    with pytest.raises(ConfigError, match="launcher"):
        load_cluster(H100, ["launcher=mpirun"])
    with pytest.raises(ConfigError, match="signal"):
        load_cluster(H100, ["signal=USR1"])
    bad = tmp_path / "p.yaml"
    bad.write_text("name: p\nstages:\n  - {name: a, argv: [x]}\n  - {name: b, argv: [y], after: [c]}\n")
    with pytest.raises(ConfigError, match=r"stages\[1\]\.after"):
        load_pipeline(bad, tmp_path)
    with pytest.raises(ConfigError, match="duplicate"):
        Chain([Stage("a", ["x"]), Stage("a", ["y"])])


def test_cli_dry_run_prints_profile_and_script(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "infir.cli",
            "launch",
            "pretrain_900b",
            "--cluster",
            str(H100),
            "--run-dir",
            "/runs/infir",
            "--dry-run",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout
    assert "# name: h100_8x8" in out and "#SBATCH --nodes=8" in out


def test_pyxis_flags_match_nemo_run(tmp_path, monkeypatch):
    """Our pyxis flags are the ones NeMo-Run's SlurmExecutor renders for the same image and mounts."""
    run = pytest.importorskip("nemo_run", reason="nemo-run not installed (optional [launcher] extra)")
    from nemo_run.core.execution.slurm import SlurmBatchRequest

    monkeypatch.setenv("NEMORUN_HOME", str(tmp_path))
    cluster = load_cluster(H100)
    ex = run.SlurmExecutor(
        account="a",
        nodes=8,
        gpus_per_node=8,
        container_image=cluster.container_image,
        container_mounts=cluster.container_mounts,
        tunnel=run.LocalTunnel(job_dir=str(tmp_path)),
    )
    ex.job_dir = str(tmp_path)
    req = SlurmBatchRequest(
        launch_cmd=["sbatch"], jobs=["p"], command_groups=[["true"]], executor=ex, max_retries=0, extra_env={}
    )
    theirs = req.materialize()
    assert f"--container-image {cluster.container_image}" in theirs
    ours = pyxis_flags(cluster)
    assert ours[0] == f"--container-image={cluster.container_image}"
    assert f"--container-mounts {','.join(cluster.container_mounts)}" in theirs
    assert ours[1] == f"--container-mounts={','.join(cluster.container_mounts)}"


def test_gpu_job_stops_in_one_line_when_the_preflight_fails(tmp_path):
    """The rendered GPU script runs containers/check_imports.py in the image first; a failing check ends the
    job before training with one line naming the image and the log (a fake srun stands in for pyxis)."""
    cluster = load_cluster(H100)
    stage = load_pipeline(ROOT / "conf/pipelines/infir.yaml", tmp_path).get("pretrain_900b")
    script = write_script(stage, cluster, tmp_path)
    text = script.read_text()
    assert text.index("check_imports.py") < text.index("torchrun")  # before any training starts
    assert "check_imports.py" not in render(
        stage, load_cluster(ROOT / "conf/cluster/local_slurm.yaml"), tmp_path
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "srun_calls"
    (bin_dir / "srun").write_text(
        f'#!/bin/bash\necho "$*" >> {calls}\necho "megatron.bridge FAILED"; exit 1\n'
    )
    (bin_dir / "scontrol").write_text("#!/bin/bash\necho node1\n")
    for tool in ("srun", "scontrol"):
        (bin_dir / tool).chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "SLURM_JOB_ID": "42", "SLURM_JOB_NODELIST": "node1"}
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"preflight failed: {cluster.container_image} is not the validated container; "
        f"see {tmp_path}/pretrain_900b/preflight_42.log"
    ]
    assert calls.read_text().count("\n") == 1  # the training srun never ran
    assert "megatron.bridge FAILED" in (tmp_path / "pretrain_900b/preflight_42.log").read_text()


def test_curation_stages_run_in_the_curation_image(tmp_path):
    """stage_images: curate/tok/mix/decontam jobs get the curation image (nemo-curator), training the NeMo
    one; a stage no glob matches takes the default; a bad glob is refused naming the key."""
    from infir.config import ConfigError
    from infir.launcher.cluster import image_for

    cluster = load_cluster(H100)
    chain = load_pipeline(ROOT / "conf/pipelines/infir.yaml", tmp_path)
    curation = cluster.stage_images["curate_*"]
    assert curation != cluster.container_image
    for name in ("decontam", "curate_web", "tok_dclm", "mix_pretrain"):
        assert f"--container-image={curation}" in render(chain.get(name), cluster, tmp_path), name
    train = render(chain.get("pretrain_900b"), cluster, tmp_path)
    assert f"--container-image={cluster.container_image}" in train and curation not in train
    assert image_for(cluster, "eval_sft") == cluster.container_image
    with pytest.raises(ConfigError, match="stage_images"):
        load_cluster(H100, ["stage_images={'curate web': x}"])


def test_ray_curation_stage_renders_a_cluster_across_its_nodes(tmp_path):
    """A multi-node `--executor ray` curation stage: the head on the first node and a worker per other node,
    in the stage's (curation) image, token auth, the driver on the head node joining with --ray-address;
    a stage that names its own --ray-address, or a local one, gets no cluster. The script parses as bash."""
    cluster = load_cluster(H100, ["ray_port=6400"])
    argv = ["infir", "curate", "web", "--input", "/data/raw/cc", "--output", "/runs/x", "--executor", "ray"]
    stage = Stage("curate_web", argv, resources=Resources(nodes=4, gpus_per_node=0, cpus_per_task=64))
    script = render(stage, cluster, "/runs/r")
    image = "--container-image=/lustre/containers/infir-curation.sqsh"
    head = [ln for ln in script.splitlines() if "ray start --head" in ln]
    workers = [ln for ln in script.splitlines() if "ray start --address=" in ln]
    assert len(head) == 1 and image in head[0] and '--port="$RAY_PORT"' in head[0]
    assert len(workers) == 1 and image in workers[0] and '--nodelist="$node"' in workers[0]
    assert 'for node in $(scontrol show hostnames "$SLURM_JOB_NODELIST" | tail -n +2); do' in script
    assert (
        "RAY_PORT=6400" in script
        and "export RAY_AUTH_MODE=token" in script
        and "trap stop_ray EXIT" in script
    )
    assert "#SBATCH --nodes=4" in script and "torchrun" not in script
    driver = script[script.index("# srun in the background") :]
    assert (
        "--nodelist=$HEAD_NODE" in driver and "--ray-address=$INFIR_RAY_ADDRESS" in driver and image in driver
    )
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0
    for argv2 in (argv + ["--ray-address", "head:6379"], argv[:-2] + ["--executor", "local"]):
        assert "ray start" not in render(
            Stage("curate_web", argv2, resources=Resources(gpus_per_node=0)), cluster, "/r"
        )
