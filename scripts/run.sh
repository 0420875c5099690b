#!/usr/bin/env bash
# Builds custodiand (Release, build/release) when needed and runs it on the
# store in ./data. On the first start (./data empty) custodiand loads the
# sample roster and publishes and activates the sample ruleset; later starts
# serve what ./data holds and do not read the files again (delete ./data to
# start over). Writes are synced. Extra arguments go to custodiand, e.g.
# `bash scripts/run.sh --listen 127.0.0.1:6000`.
#
# Idempotent: dependencies are installed and the build directory configured
# only once; ninja rebuilds only what changed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh

BUILD_DIR=build/release
JOBS=${CUSTODIAN_JOBS:-$(nproc)}

if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release \
    -DCUSTODIAN_BUILD_TESTS=OFF \
    -DCUSTODIAN_BUILD_BENCH=OFF
fi
cmake --build "$BUILD_DIR" --target custodiand -- -j "$JOBS"

exec "$BUILD_DIR/server/custodiand" \
  --roster examples/roster.yaml \
  --ruleset examples/ruleset.yaml \
  --data-dir ./data \
  "$@"
