#!/usr/bin/env bash
# The light core: a venv with `pip install -e .` and no extra (what a login node needs) must run
# `infir --help` and render sbatch jobs (`infir launch ... --dry-run`) without torch, numpy, Ray or NeMo.
# CI runs it after setup.sh; it takes ~30 s and leaves .venv-core for a rerun.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv-core/bin/python ] || "$PY" -m venv .venv-core
.venv-core/bin/python -m pip install -q "pip==26.3" setuptools wheel
.venv-core/bin/python -m pip install -q -c requirements-lock.txt -e .
for heavy in torch numpy transformers megatron nemo_curator ray spacy lm_eval; do
  if .venv-core/bin/python -c "import $heavy" 2>/dev/null; then
    echo "[core] $heavy is importable: the core install is not light" >&2
    exit 1
  fi
done
export HF_HUB_OFFLINE=1
.venv-core/bin/infir --help >/dev/null
out=$(.venv-core/bin/infir launch infir --cluster h100_8x8 --dry-run)
for want in "#SBATCH --nodes=8" "# layout: pretrain_900b: 8 nodes x 8 GPUs = 64" "infir-curation.sqsh"; do
  grep -qF -- "$want" <<<"$out" || { echo "[core] launch --dry-run lacks: $want" >&2; exit 1; }
done
.venv-core/bin/infir launch tiny --cluster local_slurm --dry-run >/dev/null
echo "[core] core install ok: infir --help and infir launch --dry-run with $(.venv-core/bin/python -m pip list 2>/dev/null | tail -n +3 | wc -l) packages"
