#!/usr/bin/env bash
# Build the image (containers/Dockerfile) and import it into an Enroot .sqsh that pyxis runs with
# --container-image=/path/infir-nemo.sqsh (conf/cluster/h100_8x8.yaml, h800_8x8.yaml point there).
# Usage: containers/enroot_import.sh [OUT.sqsh] [TAG]
# Without a local Docker engine, the same image is built with Enroot alone: import the pinned NGC base,
# copy this repo to /workspace/infir-recipes, pip-install the Dockerfile's pins, export the container.
# Either way the import check runs inside the result and any failure stops the script (exit != 0).
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
  echo "no Docker engine: building $OUT from $BASE with enroot"
  # the Dockerfile's pip pins, so both paths install the same versions
  mapfile -t PINS < <(grep -o '"[A-Za-z0-9_.-]*==[^"]*"' containers/Dockerfile | tr -d '"')
  [ "${#PINS[@]}" -gt 0 ] || { echo "no pinned pip packages found in containers/Dockerfile" >&2; exit 1; }
  WORK=$(mktemp -d)
  NAME="infir-build-$$"
  trap 'enroot remove -f "$NAME" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
  registry=${BASE%%/*}; image=${BASE#*/}
  enroot import -o "$WORK/base.sqsh" "docker://$registry#$image"
  enroot create -n "$NAME" "$WORK/base.sqsh"
  enroot start --rw --mount "$PWD:/src" "$NAME" bash -euc '
    mkdir -p /workspace/infir-recipes && cp -a /src/. /workspace/infir-recipes/
    pip install --no-cache-dir "$@"
    pip install --no-cache-dir --no-deps -e /workspace/infir-recipes' _ "${PINS[@]}"
  enroot export -o "$OUT" "$NAME"
fi
# the check must pass in the image pyxis will run; set -e turns a failed import into a failed build
if ! enroot start "$OUT" python /workspace/infir-recipes/containers/check_imports.py; then
  echo "import check FAILED in $OUT: do not use this image (see the list above)" >&2
  exit 1
fi
echo "wrote $OUT"
