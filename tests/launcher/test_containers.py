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
    # the cluster profiles run the same pinned image
    for profile in ("h100_8x8", "h800_8x8"):
        text = (ROOT / f"conf/cluster/{profile}.yaml").read_text()
        assert f"nvidia/nemo:{m.group(1)}@sha256:{m.group(2)}" in text


def test_dockerfile_pins_every_pip_package_and_runs_the_check():
    text = (ROOT / "containers/Dockerfile").read_text()
    reqs = re.findall(r'"([A-Za-z0-9_.-]+)([=<>!~]=?[^"]*)?"', text)
    assert reqs and all(op.startswith("==") for _, op in reqs), reqs
    assert "COPY . /workspace/infir-recipes" in text and "containers/check_imports.py" in text


def test_enroot_script_is_valid_bash_and_refuses_unpinned():
    subprocess.run(["bash", "-n", str(ROOT / "containers/enroot_import.sh")], check=True)
    assert "@sha256:" in (ROOT / "containers/enroot_import.sh").read_text()


def test_import_check_cpu():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "containers/check_imports.py"), "--cpu"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^torch\s+ok\s+\d", proc.stdout, flags=re.M)
    assert "11/11 imports ok" in proc.stdout
