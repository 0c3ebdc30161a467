#!/usr/bin/env bash
# Quick start, part 2: set up, build, and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
# The GCP package test runs under the real Functions Framework from npm.
scripts/setup-npm.sh
cd build
exec ctest --output-on-failure -j"${BLUEPRINT_TEST_JOBS:-2}" "$@"
