#!/usr/bin/env bash
# Re-resolves the dependency graph in a throwaway venv and rewrites requirements-lock.txt.
# The hints (huggingface-hub<2, anyio<=4.9.0, xxhash<4) steer pip past the known conflicts; without
# them it backtracks until resolution-too-deep. Run after changing dependencies in pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$PY -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q "pip==26.3" setuptools wheel
"$tmp/venv/bin/python" -m pip install -q "torch==2.13.0"
printf 'huggingface-hub<2\nanyio<=4.9.0\nxxhash<4\n' > "$tmp/hints.txt"
"$tmp/venv/bin/python" -m pip install -q -c "$tmp/hints.txt" ".[all,test]"
{
  sed -n '1,/^# Regenerate/p' requirements-lock.txt
  "$tmp/venv/bin/python" -m pip freeze --exclude infir-recipes | sed 's/^torch==\([0-9.]*\)+cpu$/torch==\1/'
} > "$tmp/lock.txt"
mv "$tmp/lock.txt" requirements-lock.txt
echo "wrote requirements-lock.txt ($(grep -vc '^#' requirements-lock.txt) packages)"
