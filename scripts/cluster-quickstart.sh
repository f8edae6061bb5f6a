#!/usr/bin/env bash
# The cluster-mode quickstart, following the original's steps, on this machine: the in-tree
# TEST API server (not Kubernetes) with the SIMULATED KServe controller (not KServe) stands in
# for a cluster with KServe installed; everything else is real: kubectl (with its default
# validation), the CRDs in deploy/, `iter8 controller` and its conversion webhook, `iter8ctl
# describe`.
#
#   scripts/cluster-quickstart.sh             our v2alpha2 quickstart (samples/cluster/quickstart)
#   scripts/cluster-quickstart.sh --original  the original iter8-kfserving v0.1.0-alpha
#                                             quickstart, its files unchanged, with real traffic
#   BUILD=build/debug scripts/cluster-quickstart.sh ...   (default build/release)
#
# --original reads the original's files from ../shared/reference/iter8/iter8-kfserving (or
# $ITER8_REFERENCE) and runs its README's steps 4-7: InferenceService my-model
# (serving.kubeflow.org/v1beta1, default.yaml, then canary.yaml), prediction requests, its
# v2alpha1 metrics (install/iter8-metrics) read from a real Prometheus, its v2alpha1 Experiment
# experiment-1 (12 iterations of 15 s), watched with
# `kubectl get experiments.v2alpha1.iter8.tools experiment-1 -o yaml | iter8ctl describe -f -`.
# The simulated KServe routes real traffic: two sample model servers (iris models standing in
# for the flowers models, one per revision) behind iter8's proxy, which exports Knative's
# revision_app_request_latencies metrics; the simulated KServe sends each traffic split to the
# proxy, Prometheus scrapes it, a load generator sends predictions.
# Exits 0 when the canary is promoted (canaryTrafficPercent 100). Everything it starts is
# stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
original=false
case "${1:-}" in
  --original) original=true ;;
  "") ;;
  *) echo "usage: $0 [--original]" >&2; exit 2 ;;
esac
BUILD=${BUILD:-build/release}
ITER8=${ITER8:-$BUILD/bin/iter8}
ITER8CTL=${ITER8CTL:-$BUILD/bin/iter8ctl}
APISERVER=${APISERVER:-$BUILD/test/test_apiserver}
for bin in "$ITER8" "$ITER8CTL" "$APISERVER"; do
  [[ -x $bin ]] || { echo "missing $bin: build first (scripts/setup.sh, or set BUILD=)" >&2; exit 1; }
done
command -v kubectl > /dev/null || { echo "kubectl is not installed (scripts/setup.sh)" >&2; exit 1; }
REF=${ITER8_REFERENCE:-../shared/reference/iter8/iter8-kfserving}
if $original; then
  [[ -f $REF/samples/quickstart/experiment.yaml ]] || {
    echo "the original's files are not at $REF (../shared/reference beside the repository," \
      "or set ITER8_REFERENCE=.../iter8-kfserving)" >&2
    exit 1
  }
  command -v prometheus > /dev/null || { echo "prometheus is not installed (scripts/setup.sh --test)" >&2; exit 1; }
fi

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
# A loopback port nothing listens on.
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    (: > "/dev/tcp/127.0.0.1/$p") 2> /dev/null || { echo "$p"; return; }
  done
}
wait_for() {  # wait_for SECONDS COMMAND...: until COMMAND succeeds
  local limit=$1; shift
  for _ in $(seq $((limit * 10))); do "$@" && return 0; sleep 0.1; done
  return 1
}
fail() {
  echo "FAILED: $*; controller log:" >&2
  tail -50 "$work/controller.log" >&2
  exit 1
}

# Real traffic (--original): two model servers, iter8's proxy in front, Prometheus scraping it.
start_data_plane() {
  local rev=my-model-predictor-default
  serve1=$(free_port); serve2=$(free_port); listen=$(free_port); admin=$(free_port)
  prom=$(free_port)
  "$ITER8" model-server --listen "127.0.0.1:$serve1" --name my-model --model iris-v1 \
    --latency-ms 5 --threads 2 > "$work/model1.log" 2>&1 &
  pids+=($!)
  "$ITER8" model-server --listen "127.0.0.1:$serve2" --name my-model --model iris-v2 \
    --latency-ms 5 --threads 2 > "$work/model2.log" 2>&1 &
  pids+=($!)
  cat > "$work/route.yaml" << EOF
apiVersion: iter8.tools/v1alpha1
kind: Route
metadata: {name: my-model, namespace: default}
spec:
  listen: 127.0.0.1:$listen
  admin: 127.0.0.1:$admin
  versions:
  - {name: $rev-00001, backend: "http://127.0.0.1:$serve1", weight: 100}
  - {name: $rev-00002, backend: "http://127.0.0.1:$serve2", weight: 0}
EOF
  "$ITER8" proxy -f "$work/route.yaml" > "$work/proxy.log" 2>&1 &
  pids+=($!)
  cat > "$work/prometheus.yml" << EOF
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
- job_name: kfserving-revisions
  static_configs: [{targets: ['127.0.0.1:$admin']}]
EOF
  prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$prom" > "$work/prometheus.log" 2>&1 &
  pids+=($!)
  wait_for 30 curl -sf "http://127.0.0.1:$prom/-/ready" -o /dev/null ||
    { cat "$work/prometheus.log" >&2; exit 1; }
  echo "model servers :$serve1 :$serve2, iter8 proxy :$listen (admin :$admin), Prometheus :$prom"
}

# The cluster stand-in, iter8's CRDs, namespace and the InferenceService CRDs; the controller and
# a route to its conversion webhook (the Service iter8-webhook, as kube-proxy would route it).
start_cluster() {
  local apiserver_args=(--kubeconfig "$KUBECONFIG" --simulate-kserve)
  $original && apiserver_args+=(--traffic-admin "http://127.0.0.1:$admin")
  "$APISERVER" "${apiserver_args[@]}" > "$work/apiserver.log" 2>&1 &
  pids+=($!)
  wait_for 10 test -s "$KUBECONFIG"
  k version 2> /dev/null | grep -i server || true
  step "2. Install iter8 (CRDs, namespace) and KServe's InferenceService CRDs"
  k apply -k deploy/crds
  k apply -f deploy/base/namespace.yaml -f test/apiserver/kserve-crds.yaml
  local webhook; webhook=$(free_port)
  local controller_args=(controller --kubeconfig "$KUBECONFIG" --log-format text
    --metrics-address 0 --health-address 0 --webhook-address "127.0.0.1:$webhook")
  $original && controller_args+=(--prometheus-url "http://127.0.0.1:$prom")
  "$ITER8" "${controller_args[@]}" > "$work/controller.log" 2>&1 &
  pids+=($!)
  k apply -f - << EOF
apiVersion: v1
kind: Endpoints
metadata: {name: iter8-webhook, namespace: iter8-system}
subsets: [{addresses: [{ip: 127.0.0.1}], ports: [{name: webhook, port: $webhook}]}]
EOF
  ca_ready() {
    [[ -n $(k get crd experiments.iter8.tools \
      -o jsonpath='{.spec.conversion.webhook.clientConfig.caBundle}' 2> /dev/null) ]]
  }
  wait_for 30 ca_ready || fail "the controller did not set up its conversion webhook"
  echo "conversion webhook ready (CA bundle written into the CRDs by the controller)"
}

isvc_ready() {
  [[ $(k get "$1" my-model \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2> /dev/null) == True ]]
}

run_v2alpha2() {
  step "1. A cluster: the test API server with a simulated KServe"
  start_cluster
  step "3. The model in production, then the canary"
  k apply -f samples/cluster/quickstart/default.yaml
  wait_for 10 isvc_ready inferenceservices.serving.kserve.io
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
  check_promoted inferenceservices.serving.kserve.io
}

run_original() {
  step "1. A cluster: the test API server with a simulated KServe routing real traffic"
  start_data_plane
  start_cluster
  step "3. (README step 4) InferenceService my-model: default.yaml, Ready, then canary.yaml"
  k apply -f "$REF/samples/quickstart/default.yaml"
  wait_for 20 isvc_ready inferenceservices.serving.kubeflow.org || fail "my-model is not Ready"
  k apply -f "$REF/samples/quickstart/canary.yaml"
  wait_for 20 isvc_ready inferenceservices.serving.kubeflow.org || fail "the canary is not Ready"
  step "4. (README step 5) Prediction requests (10 per second through the proxy)"
  "$ITER8" load --rate 10 --duration 600s -c 2 -X POST -H 'Content-Type: application/json' \
    -d '{"instances": [[6.8, 2.8, 4.8, 1.4]]}' \
    "http://127.0.0.1:$listen/v1/models/my-model:predict" > "$work/load.log" 2>&1 &
  pids+=($!)
  step "5. (README step 6) The original's metrics and experiment, unchanged"
  k apply -k "$REF/install/iter8-metrics"
  k apply -f "$REF/samples/quickstart/experiment.yaml"
  step "6. (README step 7) Watch it"
  local done=false
  for _ in $(seq 400); do
    local report
    report=$(k get experiments.v2alpha1.iter8.tools experiment-1 -o yaml 2> /dev/null |
      "$ITER8CTL" describe -f - 2> /dev/null || true)
    local iterations winner
    iterations=$(sed -n 's/^Number of completed iterations: //p' <<< "$report")
    winner=$(sed -n 's/^Winning version: //p' <<< "$report")
    echo "completed iterations: ${iterations:-0}  winning version: ${winner:-}" \
      " canaryTrafficPercent: $(k get inferenceservices.serving.kubeflow.org my-model \
      -o jsonpath='{.spec.predictor.canaryTrafficPercent}')"
    if [[ $(k get experiments.v2alpha1.iter8.tools experiment-1 -o \
      jsonpath='{.status.conditions[?(@.type=="ExperimentCompleted")].status}') == True ]]; then
      done=true
      break
    fi
    sleep 2
  done
  $done || fail "experiment-1 did not complete"
  step "7. iter8ctl describe, as the original's README reads it (v2alpha1)"
  k get experiments.v2alpha1.iter8.tools experiment-1 -o yaml | "$ITER8CTL" describe -f -
  step "8. The same experiment through the preferred version (v2alpha2)"
  k get experiment experiment-1 -o yaml | "$ITER8CTL" describe -f -
  check_promoted inferenceservices.serving.kubeflow.org
}

check_promoted() {
  step "The canary has the traffic"
  k get "$1" my-model
  local pct rolled
  pct=$(k get "$1" my-model -o jsonpath='{.spec.predictor.canaryTrafficPercent}')
  rolled=$(k get "$1" my-model -o jsonpath='{.status.components.predictor.latestRolledoutRevision}')
  echo "canaryTrafficPercent: $pct, serving revision: $rolled"
  [[ $pct == 100 ]] || fail "the canary was not promoted"
  echo "OK: canary promoted"
}

if $original; then run_original; else run_v2alpha2; fi
