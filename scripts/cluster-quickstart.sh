#!/usr/bin/env bash
# The cluster-mode quickstart, following the original's steps, on this machine: the in-tree
# TEST API server (not Kubernetes) with the SIMULATED KServe controller (not KServe) stands in
# for a cluster with KServe installed; everything else is real: kubectl, the CRDs in deploy/,
# `iter8 controller`, `iter8ctl describe`.
#
#   scripts/cluster-quickstart.sh            uses build/release (build it first: scripts/setup.sh)
#   BUILD=build/debug scripts/cluster-quickstart.sh
#
# Steps: start the API server; install iter8's CRDs and namespace and the InferenceService CRD;
# start the controller; apply InferenceService `my-model` (default), wait until Ready; apply the
# canary; apply the metrics and the experiment; watch it; describe it; check that the canary
# has 100 % of the traffic. Exits 0 when it has. Everything it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/release}
ITER8=${ITER8:-$BUILD/bin/iter8}
ITER8CTL=${ITER8CTL:-$BUILD/bin/iter8ctl}
APISERVER=${APISERVER:-$BUILD/test/test_apiserver}
for bin in "$ITER8" "$ITER8CTL" "$APISERVER"; do
  [[ -x $bin ]] || { echo "missing $bin: build first (scripts/setup.sh, or set BUILD=)" >&2; exit 1; }
done
command -v kubectl > /dev/null || { echo "kubectl is not installed (scripts/setup.sh)" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
  wait 2> /dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export KUBECONFIG=$work/kubeconfig
k() { kubectl --cache-dir "$work/cache" "$@"; }
step() { printf '\n== %s\n' "$*"; }

step "1. A cluster: the test API server with a simulated KServe"
"$APISERVER" --kubeconfig "$KUBECONFIG" --simulate-kserve > "$work/apiserver.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -s $KUBECONFIG ]] && break; sleep 0.1; done
k version 2> /dev/null | grep -i server || true

step "2. Install iter8 (CRDs, namespace) and KServe's InferenceService CRD"
k apply -k deploy/crds
k apply -f deploy/base/namespace.yaml -f test/apiserver/kserve-crds.yaml
"$ITER8" controller --kubeconfig "$KUBECONFIG" --log-format text \
  --metrics-address 0 --health-address 0 > "$work/controller.log" 2>&1 &
pids+=($!)

step "3. The model in production, then the canary"
k apply -f samples/cluster/quickstart/default.yaml
for _ in $(seq 100); do
  [[ $(k get inferenceservices.serving.kserve.io my-model \
       -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == True ]] && break
  sleep 0.1
done
k apply -f samples/cluster/quickstart/canary.yaml
echo "(on a real cluster, send prediction requests now; these metrics are mock)"

step "4. Metrics and the experiment"
k apply -f samples/cluster/quickstart/metrics.yaml
k apply -f samples/cluster/quickstart/experiment.yaml

step "5. Watch it"
for _ in $(seq 600); do
  state=$(k get experiment quickstart-exp \
    -o jsonpath='{.status.stage} {.status.completedIterations} {.spec.versionInfo.candidates[0].name}')
  pct=$(k get inferenceservices.serving.kserve.io my-model \
    -o jsonpath='{.spec.predictor.canaryTrafficPercent}')
  echo "stage/iterations/candidate: ${state:-pending}  canaryTrafficPercent: $pct"
  [[ $state == Completed* ]] && break
  sleep 1
done

step "6. iter8ctl describe"
k get experiment quickstart-exp -o yaml | "$ITER8CTL" describe -f -

step "7. The canary has the traffic"
pct=$(k get inferenceservices.serving.kserve.io my-model -o jsonpath='{.spec.predictor.canaryTrafficPercent}')
rolled=$(k get inferenceservices.serving.kserve.io my-model \
  -o jsonpath='{.status.components.predictor.latestRolledoutRevision}')
echo "canaryTrafficPercent: $pct, serving revision: $rolled"
if [[ $pct != 100 ]]; then
  echo "FAILED: the canary was not promoted; controller log:" >&2
  cat "$work/controller.log" >&2
  exit 1
fi
echo "OK: canary promoted"
