#!/usr/bin/env bash
# Build the image (containers/Dockerfile) and import it into an Enroot .sqsh that pyxis runs with
# --container-image=/path/infir.sqsh. Usage: containers/enroot_import.sh [OUT.sqsh] [TAG]
# Without a local Docker engine, imports the pinned NGC base straight from the registry instead.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-infir-nemo.sqsh}
TAG=${2:-infir-recipes:latest}
BASE=$(awk '/^FROM / {print $2; exit}' containers/Dockerfile)
case "$BASE" in *@sha256:*) ;; *) echo "containers/Dockerfile: FROM must be pinned by digest" >&2; exit 1 ;; esac
command -v enroot >/dev/null || { echo "enroot not found (https://github.com/NVIDIA/enroot)" >&2; exit 1; }
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  docker build -f containers/Dockerfile -t "$TAG" .
  enroot import -o "$OUT" "dockerd://$TAG"
else
  echo "no Docker engine: importing the pinned base $BASE (mount this repo and pip install -e it)"
  registry=${BASE%%/*}; image=${BASE#*/}
  enroot import -o "$OUT" "docker://$registry#$image"
fi
enroot start --rw "$OUT" python /workspace/infir-recipes/containers/check_imports.py || \
  echo "import check skipped (run containers/check_imports.py inside the container)"
echo "wrote $OUT"
