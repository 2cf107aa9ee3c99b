#!/usr/bin/env bash
# Installs everything infir-recipes needs on a fresh Debian/Ubuntu machine with Python >= 3.11:
# system packages (SLURM + munge for the launcher tests, bubblewrap for the eval sandbox), a virtual
# environment in .venv, the package (editable) with all extras. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  need=()
  for pkg in slurm-wlm munge bubblewrap; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
  # a bare Debian/Ubuntu python3 ships without venv/pip
  command -v "$PY" >/dev/null || need+=(python3)
  "$PY" -c "import venv, ensurepip" 2>/dev/null || need+=(python3-venv python3-pip)
  if [ ${#need[@]} -gt 0 ]; then
    echo "[setup] apt-get install ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($PY --version)"
  $PY -m venv .venv
fi
.venv/bin/python -m pip install -q "pip==26.3" setuptools wheel
# torch first, pinned, so no other requirement can pull a multi-GB CUDA build onto a CPU machine
.venv/bin/python -m pip install -q -c requirements-lock.txt "torch==2.13.0"
# Every package pinned by the lock (see its header): a fresh machine gets the graph the suite was
# tested with, and a new upstream release cannot send pip into resolution-too-deep.
echo "[setup] pip install -e .[all,test] -c requirements-lock.txt"
.venv/bin/python -m pip install -q -c requirements-lock.txt -e ".[all,test]"
# lm-eval's own MATH task (minerva_math) imports only beside antlr4 4.11, hydra pins 4.9: 4.11 goes to a side
# folder that only the test comparing our MATH with lm-eval's puts on PYTHONPATH (tests/evaluation)
[ -d .venv/opt/antlr4-4.11/antlr4 ] || .venv/bin/python -m pip install -q --no-deps \
  --target .venv/opt/antlr4-4.11 "antlr4-python3-runtime==4.11.0"
.venv/bin/infir --version
