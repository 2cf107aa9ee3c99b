#!/usr/bin/env bash
# The test command: lint, then the CPU suite (GPU tests skip without CUDA). Starts the one-node SLURM the
# launcher tests submit to, when this machine can (root + slurm-wlm installed); otherwise those tests skip.
set -uo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false MPLBACKEND=Agg
if [ "$(id -u)" = 0 ] && command -v slurmctld >/dev/null; then
  bash scripts/slurm_local.sh start || echo "[test] SLURM did not start; slurm-marked tests will skip"
fi
.venv/bin/ruff check . || exit 1
.venv/bin/ruff format --check . || exit 1
.venv/bin/python -m pytest -q --durations=15 "$@"
rc=$?
# pytest exits 5 when it collected no test: that is a broken suite, never a pass.
if [ $rc -eq 5 ]; then echo "[test] no tests were collected"; exit 1; fi
exit $rc
