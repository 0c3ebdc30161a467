#!/usr/bin/env bash
# Installs what blueprint-faas needs from Debian bookworm's packages.
# Skips apt entirely when everything is already there (fast, works offline).
set -euo pipefail

packages=(
  cmake ninja-build g++ ccache pkg-config git
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libzip-dev zipcmp zipmerge ziptool libspdlog-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  awscli wrk zip unzip python3 openssl curl
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm (the GCP Functions Framework test peer). Any Node >= 18 will
# do; take Debian's only when none is installed (nodesource builds bundle npm).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi
