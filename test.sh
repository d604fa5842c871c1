#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (packages), builds with -Werror and runs every test.
set -euo pipefail
cd "$(dirname "$0")"
bash .ci/deps.sh
BUILD=${BUILD:-build}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIMGTRUST_WERROR=ON >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
ctest --test-dir "$BUILD" --output-on-failure -j"$(nproc)" "$@"
