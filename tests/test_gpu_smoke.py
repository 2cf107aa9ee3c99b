"""The GPU smoke script end to end (scripts/gpu_smoke.sh): only where CUDA and Megatron-Bridge are."""

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.gpu
def test_gpu_smoke_script(tmp_path):
    pytest.importorskip("megatron.bridge")
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_smoke.sh"), str(tmp_path)], capture_output=True,
                          text=True, timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((tmp_path / "smoke.json").read_text())
    assert summary["ok"] and summary["argmax_agreement"] >= 0.98
    for run in ("bf16", "fp8", "sft"):
        assert (tmp_path / run / "export" / "config.json").is_file(), run
