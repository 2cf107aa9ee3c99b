"""Benchmark 8: the curation driver's peak memory does not grow with the corpus (workers own the data).

The same pipeline (the fused FineWeb filters) runs on a corpus and on one --scale times bigger (more shards
of the same size, cycled from the shipped demo corpus), on the local executor with --workers and on
NeMo Curator/Ray. Each run is its own process; its peak RSS (the driver's) is read from getrusage, and the
local pool's largest worker from RUSAGE_CHILDREN. Prints the big/small driver RSS ratio per executor
(target: within 1.2x, i.e. flat) beside the corpus ratio; both runs' outputs are checked for size.

    .venv/bin/python benchmarks/bench_driver_rss.py [--shards 4] [--docs 2000] [--scale 10]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_workers import corpus  # noqa: E402  (the same cycled demo corpus)

PIPELINE = {
    "name": "bench_rss",
    "batch_size": 500,
    "steps": [{"type": "fineweb_filters", "c4_quality": {"filter_no_terminal_punct": False}}],
}

CHILD = """
import json, resource, sys
from infir.curation.pipeline import PipelineConfig, run_pipeline
cfg = PipelineConfig(**json.loads(sys.argv[1]))
report = run_pipeline(cfg, sys.argv[2], sys.argv[3], quiet=True)
print(json.dumps({"driver_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "worker_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                  "docs_in": report.docs_in, "docs_out": report.docs_out}))
"""


def run(cfg: dict, inp: Path, out: Path) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_DEDUP_LOGS": "0"}
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(cfg), str(inp), str(out)], capture_output=True,
                          text=True, env=env, check=False)  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--scale", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        small = corpus(root / "small", args.shards, args.docs)
        big = corpus(root / "big", args.shards * args.scale, args.docs)
        mb = {k: sum(p.stat().st_size for p in (root / k).glob("*.jsonl")) / 2**20 for k in ("small", "big")}
        rows = []
        for label, extra in (
            ("local", {"workers": args.workers}),
            ("ray", {"executor": "ray", "num_cpus": args.workers}),
        ):
            res = {
                k: run({**PIPELINE, **extra}, root / k, root / f"out-{label}-{k}") for k in ("small", "big")
            }
            assert res["small"]["docs_in"] == small and res["big"]["docs_in"] == big, res
            rows.append((label, res))
    print(f"corpus: {small} docs ({mb['small']:.0f} MB) and {big} docs ({mb['big']:.0f} MB), "
          f"{big / small:.0f}x; {os.cpu_count()} cores")  # fmt: skip
    print(f"{'executor':<9}{'driver small':>14}{'driver big':>12}{'big/small':>11}{'worker peak':>13}")
    for label, res in rows:
        s, b = res["small"]["driver_kb"] / 1024, res["big"]["driver_kb"] / 1024
        worker = max(res["small"]["worker_kb"], res["big"]["worker_kb"]) / 1024
        wtxt = f"{worker:.0f} MB" if label == "local" else "(Ray's)"
        print(f"{label:<9}{s:>11.0f} MB{b:>9.0f} MB{b / s:>10.2f}x{wtxt:>13}")
    print("target: driver big/small within 1.2x while the corpus grows "
          f"{big / small:.0f}x (workers own the data)")  # fmt: skip


if __name__ == "__main__":
    main()
