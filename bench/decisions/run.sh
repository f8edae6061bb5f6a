#!/usr/bin/env bash
# Builds and runs the decision benchmark (docs/decisions.md).
#   bench/decisions/run.sh                 the reduced grid, 200 runs per cell (~2 min, 2 cores)
#   bench/decisions/run.sh --grid full     4 rates x 3 intervals, 2,000 runs per cell (long)
# Extra arguments go to the simulator (--runs N, --threads N, --csv FILE, --markdown FILE).
set -euo pipefail
cd "$(dirname "$0")/../.."
cmake --preset release >/dev/null
cmake --build --preset release --target decisions
exec build/release/bench/decisions "$@"
