#!/usr/bin/env bash
# The README's first command: install what is missing, build (release), and run the main job.
# Until the local-mode quickstart lands, the main job is `iter8ctl describe` and `iter8ctl
# assert` on a finished sample experiment, and `iter8 validate` on the samples.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target iter8 iter8ctl

bin=build/release/bin
echo
echo "\$ iter8 validate -f samples/describe/canary-completed.yaml"
"$bin/iter8" validate -f samples/describe/canary-completed.yaml
echo
echo "\$ iter8ctl describe -f samples/describe/canary-completed.yaml"
"$bin/iter8ctl" describe -f samples/describe/canary-completed.yaml
echo "\$ iter8ctl assert -c completed -c noFailure -c candidateWon -f samples/describe/canary-completed.yaml"
"$bin/iter8ctl" assert -c completed -c noFailure -c candidateWon \
  -f samples/describe/canary-completed.yaml
echo
echo "Binaries: $bin/iter8 and $bin/iter8ctl (see README.md for the commands)."
