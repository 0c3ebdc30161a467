#!/usr/bin/env bash
# Installs the Google Cloud Functions Framework into a cache OUTSIDE the repo,
# for the test that runs the GCP package under the real framework
# (tests/integration/test_gcp_package.cpp). Idempotent: does nothing when the
# pinned major is already there.
#
#   BLUEPRINT_NPM_CACHE  where to install (default $HOME/.cache/blueprint-faas/npm)
set -euo pipefail

# Keep in step with the caret range written into the GCP package's
# package.json (kFunctionsFrameworkRange in include/blueprint/faas/packaging.hpp).
version="^5.0.0"
major=5
cache="${BLUEPRINT_NPM_CACHE:-${HOME}/.cache/blueprint-faas/npm}"
pkg_json="$cache/node_modules/@google-cloud/functions-framework/package.json"

if [[ -f "$pkg_json" ]] && [[ -x "$cache/node_modules/.bin/functions-framework" ]]; then
  have=$(sed -n 's/^ *"version": *"\([0-9][0-9.]*\)".*/\1/p' "$pkg_json" | head -n1)
  if [[ "${have%%.*}" == "$major" ]]; then
    echo "setup-npm: @google-cloud/functions-framework $have already in $cache"
    exit 0
  fi
fi

command -v npm >/dev/null 2>&1 || { echo "setup-npm: npm not found (run scripts/setup-debian.sh)" >&2; exit 1; }
mkdir -p "$cache"
echo "setup-npm: installing @google-cloud/functions-framework@$version into $cache"
npm install --prefix "$cache" --no-audit --no-fund --loglevel=error \
  "@google-cloud/functions-framework@$version"
