"""A wheel install works like the clone: every package is listed, and conf/ and data/ travel with it."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _declared() -> tuple[dict[str, str], set[str]]:
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return tool["package-dir"], set(tool["packages"])


def test_every_package_and_data_folder_is_declared():
    """pyproject.toml lists packages by hand (the folders map into infir.*): a new folder must be added."""
    roots, declared = _declared()
    found = set()
    for package, folder in roots.items():
        for dirpath, dirs, _files in os.walk(ROOT / folder):
            dirs[:] = [d for d in dirs if not d.startswith((".", "__"))]
            rel = Path(dirpath).relative_to(ROOT / folder)
            is_code = (Path(dirpath) / "__init__.py").is_file()
            if is_code or package in ("infir.conf", "infir.shipped"):
                found.add(".".join([package, *rel.parts]))
    assert found == declared, {"missing": sorted(found - declared), "stale": sorted(declared - found)}


def test_a_wheel_install_finds_its_configs_and_data(tmp_path):
    target = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
         str(target), str(ROOT)], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-2000:]
    env = {**os.environ, "PYTHONPATH": str(target), "HF_HUB_OFFLINE": "1"}
    where = subprocess.run([sys.executable, "-c", "import infir.paths as p; print(p.__file__, p.CONF_DIR, p.DATA_DIR)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert all(w.startswith(str(target)) for w in where), where  # the installed copy, not the clone
    launch = subprocess.run([sys.executable, "-m", "infir.cli", "launch", "infir", "--cluster", "h100_8x8", "--dry-run"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert launch.returncode == 0 and "#SBATCH --nodes=8" in launch.stdout, launch.stderr[-2000:]
    demo = subprocess.run([sys.executable, "-m", "infir.cli", "demo", "--dry-run", f"output={tmp_path / 'run'}"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert demo.returncode == 0 and f"corpus: {target / 'infir' / 'shipped' / 'demo'}" in demo.stdout, (
        demo.stderr
    )
    assert len(list((target / "infir" / "conf").rglob("*.yaml"))) == len(
        list((ROOT / "conf").rglob("*.yaml"))
    )
    assert len(list((target / "infir" / "shipped").rglob("*.jsonl"))) == len(
        list((ROOT / "data").rglob("*.jsonl"))
    )
