#!/usr/bin/env bash
# Installs what the build and the tests need from Debian packages, non-interactively and only
# when something is missing (safe to run again). Runs as root or through sudo.
#   scripts/setup.sh          build dependencies
#   scripts/setup.sh --test   build and test dependencies (clang for the fuzzers, ...)
#   scripts/setup.sh --bench  build dependencies and the peers of bench/proxy (nginx, ...)
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ccache git
  nlohmann-json3-dev libyaml-dev libabsl-dev libcli11-dev libjq-dev libcurl4-openssl-dev
  libcpp-httplib-dev libboost1.81-dev libsqlite3-dev libsqlitecpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev libgoogle-perftools-dev libssl-dev
)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(clang libclang-rt-14-dev clang-format clang-tidy openssl prometheus curl
    golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v2-dev)  # Helm chart check
fi
if [[ "${1:-}" == "--bench" ]]; then  # bench/proxy/run.sh: the peers it compares against
  packages+=(nginx-light wrk haproxy python3)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

sudo=()
if [[ "$(id -u)" != 0 ]]; then
  if command -v sudo >/dev/null; then sudo=(sudo -E); else
    echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1
  fi
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
