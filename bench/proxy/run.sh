#!/usr/bin/env bash
# Proxy benchmark: the same wrk load, on the same machine, against the same backend (two nginx
# `return 200` servers), through
#   direct   wrk -> backend (no proxy: the ceiling)
#   iter8    iter8 proxy, weights 90/10, keep-alive pool
#   nginx    nginx reverse proxy, upstream weights 9:1, keepalive 64
#   haproxy  HAProxy, roundrobin weights 9:1, http-reuse always
# Every proxy gets the same number of worker threads (PROXY_WORKERS, default 1) so that they
# share the cores with wrk and the backend in the same way. Prints a Markdown table with
# req/s, p50 and p99 latency and the ratios to nginx and to direct, then the memory per idle
# connection of the iter8 proxy (RSS growth over IDLE_CONNECTIONS kept-alive idle connections).
# Rounds are interleaved (each round runs every target once) so that the machine's drift over the
# run affects every target alike, and each proxy's CPU time per request (user + system, all its
# processes and threads, from /proc) is reported: on a machine shared by wrk, the backend and the
# proxy, it is the steadier measure of a proxy's own cost.
# Then the latency of every target at one offered load (open loop, see below).
# ITER8_BASELINE=path/to/another/iter8 adds that binary as target "iter8-base" (a before/after
# comparison in one run).
#
#   bench/proxy/run.sh              (installs nginx-light, wrk, haproxy when missing)
#   DURATION=10 CONNECTIONS=64 WRK_THREADS=2 PROXY_WORKERS=1 bench/proxy/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
duration="${DURATION:-10}"
connections="${CONNECTIONS:-64}"
wrk_threads="${WRK_THREADS:-1}"
workers="${PROXY_WORKERS:-1}"
idle="${IDLE_CONNECTIONS:-10000}"
rounds="${ROUNDS:-3}"

scripts/setup.sh --bench
cmake --preset release >/dev/null
cmake --build --preset release --target iter8 >/dev/null
iter8=build/release/bin/iter8

dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "port $1 never opened; logs in $dir:" >&2; cat "$dir"/*.log "$dir"/*/error.log >&2 2>/dev/null || true
  exit 1
}

b1=$(free_port); b2=$(free_port); pn=$(free_port); ph=$(free_port); pi=$(free_port)
mkdir -p "$dir/nginx-backend" "$dir/nginx-proxy"
common="daemon off; pid PIDFILE; error_log ERRLOG warn; events { worker_connections 20000; }"
cat > "$dir/nginx-backend/nginx.conf" <<CONF
worker_processes 1;
${common//PIDFILE/$dir/nginx-backend/pid}
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$b1; location / { return 200 "ok\n"; } }
  server { listen 127.0.0.1:$b2; location / { return 200 "ok\n"; } }
}
CONF
sed -i "s|ERRLOG|$dir/nginx-backend/error.log|" "$dir/nginx-backend/nginx.conf"
cat > "$dir/nginx-proxy/nginx.conf" <<CONF
worker_processes $workers;
${common//PIDFILE/$dir/nginx-proxy/pid}
http {
  access_log off;
  keepalive_requests 1000000;
  upstream models {
    server 127.0.0.1:$b1 weight=9;
    server 127.0.0.1:$b2 weight=1;
    keepalive 64;
  }
  server {
    listen 127.0.0.1:$pn;
    location / {
      proxy_pass http://models;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
CONF
sed -i "s|ERRLOG|$dir/nginx-proxy/error.log|" "$dir/nginx-proxy/nginx.conf"
cat > "$dir/haproxy.cfg" <<CONF
global
  nbthread $workers
  maxconn 8000
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend fe
  bind 127.0.0.1:$ph
  default_backend models
backend models
  balance roundrobin
  server default 127.0.0.1:$b1 weight 9
  server canary 127.0.0.1:$b2 weight 1
CONF
cat > "$dir/route.yaml" <<CONF
apiVersion: iter8.tools/v1alpha1
kind: Route
metadata: {name: bench}
spec:
  listen: 127.0.0.1:$pi
  versions:
  - {name: default, backend: "http://127.0.0.1:$b1", weight: 90}
  - {name: canary, backend: "http://127.0.0.1:$b2", weight: 10}
CONF

nginx -c "$dir/nginx-backend/nginx.conf" -p "$dir/nginx-backend" & pids+=($!)
nginx -c "$dir/nginx-proxy/nginx.conf" -p "$dir/nginx-proxy" & pids+=($!)
haproxy -f "$dir/haproxy.cfg" -q & pids+=($!)
haproxy_pid=$!
"$iter8" proxy -f "$dir/route.yaml" --workers "$workers" >"$dir/iter8.log" 2>&1 & pids+=($!)
iter8_pid=$!
targets=("direct $b1" "iter8 $pi" "nginx $pn" "haproxy $ph")
declare -A pid_of=([iter8]=$iter8_pid [haproxy]=$haproxy_pid [nginx]="")
if [[ -n "${ITER8_BASELINE:-}" ]]; then
  pb=$(free_port)
  sed "s|127.0.0.1:$pi|127.0.0.1:$pb|" "$dir/route.yaml" >"$dir/route-base.yaml"
  "$ITER8_BASELINE" proxy -f "$dir/route-base.yaml" --workers "$workers" >"$dir/iter8-base.log" 2>&1 &
  pids+=($!)
  pid_of[iter8-base]=$!
  targets+=("iter8-base $pb")
  wait_port "$pb"
fi
for p in $b1 $b2 $pn $ph $pi; do wait_port "$p"; done
pid_of[nginx]=$(cat "$dir/nginx-proxy/pid")

# CPU ticks (user + system) of a process, its threads and its child processes (nginx's workers).
ticks() {
  local total=0 p
  for p in "$1" $(pgrep -P "$1" || true); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
hz=$(getconf CLK_TCK)

# wrk's latency lines look like "     50%  512.00us"; normalise to milliseconds.
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.3f", v}'; }
declare -A rps p50 p99 cpu_ticks requests
measure() {  # name port: one wrk run; keeps the best run's figures and sums CPU and requests
  local pid="${pid_of[$1]:-}" t0=0 out r
  [[ -n "$pid" ]] && t0=$(ticks "$pid")
  out=$(wrk -t"$wrk_threads" -c"$connections" -d"${duration}s" --latency "http://127.0.0.1:$2/")
  if [[ -n "$pid" ]]; then
    cpu_ticks[$1]=$(( ${cpu_ticks[$1]:-0} + $(ticks "$pid") - t0 ))
    requests[$1]=$(( ${requests[$1]:-0} + $(echo "$out" | awk '/requests in/ {print $1}') ))
  fi
  r=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  if awk -v a="$r" -v b="${rps[$1]:-0}" 'BEGIN {exit !(a > b)}'; then
    rps[$1]=$r
    p50[$1]=$(echo "$out" | awk '$1 == "50%" {print $2}' | to_ms)
    p99[$1]=$(echo "$out" | awk '$1 == "99%" {print $2}' | to_ms)
  fi
  if echo "$out" | grep -q "Non-2xx\|Socket errors"; then
    echo "warning: $1: $(echo "$out" | grep -E 'Non-2xx|Socket errors')" >&2
  fi
}
for _ in $(seq "$rounds"); do
  for target in "${targets[@]}"; do measure $target; done
done

echo
echo "wrk -t$wrk_threads -c$connections -d${duration}s (best of $rounds), proxies with $workers worker(s), $(nproc) cores, $(date -u +%F)"
echo
echo "| target | req/s | p50 ms | p99 ms | req/s vs nginx | req/s vs direct | p99 vs nginx | CPU µs/req | CPU vs nginx |"
echo "|---|---|---|---|---|---|---|---|---|"
nginx_cpu=$(awk -v c="${cpu_ticks[nginx]}" -v n="${requests[nginx]}" -v hz="$hz" 'BEGIN {print c / hz * 1e6 / n}')
for target in "${targets[@]}"; do
  t=${target% *}
  cpu="-"; cpu_ratio="-"
  if [[ -n "${requests[$t]:-}" ]]; then
    cpu=$(awk -v c="${cpu_ticks[$t]}" -v n="${requests[$t]}" -v hz="$hz" 'BEGIN {printf "%.2f", c / hz * 1e6 / n}')
    cpu_ratio=$(awk -v c="$cpu" -v n="$nginx_cpu" 'BEGIN {printf "%.2f", c / n}')
  fi
  awk -v t="$t" -v r="${rps[$t]}" -v a="${p50[$t]}" -v b="${p99[$t]}" -v n="${rps[nginx]}" \
      -v d="${rps[direct]}" -v nb="${p99[nginx]}" -v c="$cpu" -v cr="$cpu_ratio" \
      'BEGIN {printf "| %s | %.0f | %.3f | %.3f | %.2f | %.2f | %.2f | %s | %s |\n", t, r, a, b, r/n, r/d, b/nb, c, cr}'
done

# Latency at the same offered load: `iter8 load` open loop (each request timed from its scheduled
# start, so a stall shows in the percentiles instead of slowing the sender) at RATE_FRACTION of
# nginx's best closed-loop throughput above, the same rate for every target, interleaved rounds;
# the best round's percentiles per target.
fraction="${RATE_FRACTION:-0.5}"
rate=$(awk -v n="${rps[nginx]}" -v f="$fraction" 'BEGIN {printf "%d", n * f}')
declare -A lp50 lp99 lp999 lerr
for _ in $(seq "$rounds"); do
  for target in "${targets[@]}"; do
    t=${target% *}
    out=$("$iter8" load "http://127.0.0.1:${target#* }/" --rate "$rate" --duration "${duration}s" \
      -c "$connections" -o json)
    p99=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["latencyMs"]["p99"])')
    if [[ -z "${lp99[$t]:-}" ]] || awk -v a="$p99" -v b="${lp99[$t]}" 'BEGIN {exit !(a < b)}'; then
      read -r lp50[$t] lp99[$t] lp999[$t] lerr[$t] < <(echo "$out" | python3 -c \
        'import json,sys; j=json.load(sys.stdin); l=j["latencyMs"]; print(l["p50"], l["p99"], l["p99.9"], j["errors"])')
    fi
  done
done
echo
echo "iter8 load --rate $rate (${fraction} x nginx's best) -c$connections -d${duration}s, open loop (best of $rounds)"
echo
echo "| target | p50 ms | p99 ms | p99.9 ms | errors | p99 vs nginx |"
echo "|---|---|---|---|---|---|"
for target in "${targets[@]}"; do
  t=${target% *}
  awk -v t="$t" -v a="${lp50[$t]}" -v b="${lp99[$t]}" -v c="${lp999[$t]}" -v e="${lerr[$t]}" \
      -v nb="${lp99[nginx]}" \
      'BEGIN {printf "| %s | %.3f | %.3f | %.3f | %d | %.2f |\n", t, a, b, c, e, b/nb}'
done

# Memory per idle connection of the iter8 proxy.
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
before=$(rss "$iter8_pid")
python3 - "$pi" "$idle" <<'PY' &
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    socks.append(s)
time.sleep(3)
PY
holder=$!
sleep 2
after=$(rss "$iter8_pid")
wait "$holder" || true
echo
awk -v n="$idle" -v a="$before" -v b="$after" \
  'BEGIN {printf "iter8 proxy RSS %d KiB -> %d KiB with %d idle connections: %.2f KiB per idle connection\n", a, b, n, (b-a)/n}'
