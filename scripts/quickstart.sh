#!/usr/bin/env bash
# The README's first command: install what is missing, build (release), and run the main job.
# Until the data plane (proxy, load generator, sample model servers) lands, the main job is a
# local-mode canary experiment on mock metrics: `iter8 run` drives it from start to promotion
# (traffic moves 10 points per iteration, the finish action gives the canary 100 %), then
# `iter8 report` and `iter8ctl describe` show why.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target iter8 iter8ctl

bin=build/release/bin
db="$(mktemp -d)/iter8.db"
trap 'rm -rf "$(dirname "$db")"' EXIT
run() { echo; echo "\$ $*"; "$@"; }

run "$bin/iter8" run --db "$db" -f samples/local/metrics.yaml -f samples/local/canary.yaml
run "$bin/iter8" report canary-sample --db "$db"
run "$bin/iter8ctl" describe canary-sample --db "$db"
run "$bin/iter8ctl" assert -c completed,noFailure,candidateWon canary-sample --db "$db"
run "$bin/iter8" get routes -o yaml --db "$db"
echo
echo "Binaries: $bin/iter8 and $bin/iter8ctl. Other samples: samples/local/*.yaml (README.md)."
