"""containers/: checked statically (no Docker engine here) plus the import check on this machine."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_dockerfile_from_pinned_by_tag_and_digest():
    lines = [ln.strip() for ln in (ROOT / "containers/Dockerfile").read_text().splitlines()]
    froms = [ln for ln in lines if ln.upper().startswith("FROM ")]
    assert len(froms) == 1
    m = re.fullmatch(r"FROM nvcr\.io/nvidia/nemo:([\w.]+)@sha256:([0-9a-f]{64})", froms[0])
    assert m, froms[0]
    assert m.group(1) != "latest"
    # the cluster profiles name the same pinned base in the comment that says how their .sqsh is built
    for profile in ("h100_8x8", "h800_8x8"):
        text = (ROOT / f"conf/cluster/{profile}.yaml").read_text()
        assert f"nvidia/nemo:{m.group(1)}@sha256:{m.group(2)}" in text


def test_profiles_run_the_image_with_the_repo_in_it():
    """The stock NeMo image has no repo: the GPU profiles run enroot_import.sh's .sqsh, whose Dockerfile puts
    the repo where the profile's container_workdir says (so `infir` and conf/ exist in every job)."""
    from infir.launcher.cluster import load_cluster

    docker = (ROOT / "containers/Dockerfile").read_text()
    workdir = re.search(r"^WORKDIR (\S+)$", docker, flags=re.M).group(1)
    assert f"COPY . {workdir}" in docker and f"pip install --no-deps -e {workdir}" in docker
    script = (ROOT / "containers/enroot_import.sh").read_text()
    default_out = re.search(r"^OUT=\$\{1:-(\S+)\}$", script, flags=re.M).group(1)
    assert f"{workdir}/containers/check_imports.py" in script and f"cp -a /src/. {workdir}/" in script
    for profile in ("h100_8x8", "h800_8x8"):
        cfg = load_cluster(ROOT / f"conf/cluster/{profile}.yaml")
        assert cfg.container_image.endswith(f"/{default_out}"), cfg.container_image
        assert cfg.container_workdir == workdir


def test_dockerfile_pins_every_pip_package_and_runs_the_check():
    text = (ROOT / "containers/Dockerfile").read_text()
    reqs = re.findall(r'"([A-Za-z0-9_.-]+)([=<>!~]=?[^"]*)?"', text)
    assert reqs and all(op.startswith("==") for _, op in reqs), reqs
    assert "COPY . /workspace/infir-recipes" in text and "containers/check_imports.py" in text


def test_enroot_script_is_valid_bash_and_refuses_unpinned():
    subprocess.run(["bash", "-n", str(ROOT / "containers/enroot_import.sh")], check=True)
    text = (ROOT / "containers/enroot_import.sh").read_text()
    assert "@sha256:" in text and "set -euo pipefail" in text
    # a failed import check must fail the script, never be papered over with `|| echo` / `|| true`
    check = [ln for ln in text.splitlines() if "check_imports.py" in ln and not ln.lstrip().startswith("#")]
    assert check and all("||" not in ln for ln in check), check


def test_enroot_script_fails_when_the_import_check_fails(tmp_path):
    """Run the script with a fake `enroot` whose import check fails: the script must exit non-zero."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "enroot"
    # import/create/export succeed (touch the output); `start ... check_imports.py` fails like a broken image
    fake.write_text(
        "#!/bin/bash\n"
        'case "$1" in import|export) touch "$3";; start) [[ "$*" == *check_imports.py* ]] && exit 1;; esac\n'
        "exit 0\n"
    )
    fake.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    out = tmp_path / "x.sqsh"
    proc = subprocess.run(
        ["bash", str(ROOT / "containers/enroot_import.sh"), str(out)], capture_output=True, text=True, env=env
    )
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "import check FAILED" in proc.stderr and "wrote" not in proc.stdout


def test_import_check_cpu():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "containers/check_imports.py"), "--cpu"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^torch\s+ok\s+\d", proc.stdout, flags=re.M)
    assert "12/12 imports ok" in proc.stdout


def test_import_check_asserts_the_pinned_versions(monkeypatch):
    """The container check fails a package whose version is not the validated one (bridge-pins.txt), and
    in --build mode reads Transformer Engine's version from metadata instead of importing it."""
    monkeypatch.syspath_prepend(str(ROOT / "containers"))
    import check_imports

    pinned = check_imports.pins()
    assert pinned["megatron-bridge"] == "0.5.1" and pinned["transformer-engine"] == "2.16.0"
    assert "torch" not in pinned and "pytest" not in pinned  # check-venv-only lines are not the container's
    from importlib import metadata

    typer_version = metadata.version("typer")
    ok = check_imports.check([("typer", "typer")], pinned={"typer": typer_version})
    bad = check_imports.check([("typer", "typer")], pinned={"typer": "0.0.1"})
    assert ok[0][1] == "ok" and bad[0][1] == "FAILED" and "expected 0.0.1" in bad[0][2]
    meta = check_imports.check(
        [("typer", "typer")], no_import=frozenset({"typer"}), pinned={"typer": "0.0.1"}
    )
    assert meta[0][1] == "FAILED" and "metadata only" in meta[0][2]
    missing = check_imports.check(
        [("transformer_engine", "transformer-engine")], frozenset({"transformer_engine"})
    )
    assert missing[0][1] == "FAILED" and "not installed" in missing[0][2]
    assert check_imports._same("2.12.0a0+nv26.06", "2.12.0") and check_imports._same("2.16.0+abc", "2.16")
    assert not check_imports._same("2.16.1", "2.16.0")
    assert "check_imports.py --build" in (ROOT / "containers/Dockerfile").read_text()
