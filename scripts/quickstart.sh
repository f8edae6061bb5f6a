#!/usr/bin/env bash
# The README's first command: install what is missing, build (release), and run the main job,
# `iter8 quickstart`: two sample model servers, iter8's proxy in front of them, a load generator
# and a canary experiment that shifts live traffic to the canary as it meets its objectives and
# promotes it (about a minute). Extra arguments go to `iter8 quickstart`, e.g.
#   scripts/quickstart.sh --canary-error-rate 0.2     (a bad canary: traffic returns to default)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target iter8 iter8ctl

bin=build/release/bin
echo
echo "\$ $bin/iter8 quickstart $*"
"$bin/iter8" quickstart "$@"
echo
echo "Binaries: $bin/iter8 and $bin/iter8ctl. Next: README.md (local mode, samples)."
