#!/usr/bin/env bash
# Quick start, part 1: set up, build, and run the demo blueprint.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
exec build/apps/bpfaas/bpfaas demo "$@"
