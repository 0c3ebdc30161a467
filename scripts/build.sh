#!/usr/bin/env bash
# Configures and builds blueprint-faas in ./build (Release, Ninja).
set -euo pipefail
cd "$(dirname "$0")/.."
"$(pwd)/scripts/setup-debian.sh"
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake --preset default "${launcher[@]}" >/dev/null
jobs=${BLUEPRINT_BUILD_JOBS:-$(nproc)}
cmake --build build -j"$jobs"
