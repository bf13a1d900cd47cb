#!/usr/bin/env bash
# Runs the full-size benchmarks behind docs/benchmarks.md on this machine.
# Each scenario group gets a fresh `skiff serve` on a new data directory, so
# one scenario's leftovers (events, watch-cache history) do not weigh on the
# next. Usage: bash hack/bench-full.sh > results.txt
set -euo pipefail
cd "$(dirname "$0")/.."
# The last scenario's Pods use the busybox image, which the process runtime
# runs with the host's busybox (hack/test.sh installs Debian's
# busybox-static): without it they never start.
if ! command -v busybox >/dev/null 2>&1 && [ ! -x /bin/busybox ]; then
  echo "bench-full: busybox is missing; install Debian's busybox-static" >&2
  exit 1
fi
bin=$(mktemp -d)
go build -o "$bin/skiff" ./cmd/skiff
go build -o "$bin/skiff-bench" ./cmd/skiff-bench
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true' EXIT

ready() { # ready URL: /readyz answers 200
  if command -v curl >/dev/null 2>&1; then
    [ "$(curl -sk -o /dev/null -w '%{http_code}' "$1/readyz")" = 200 ]
  else
    "$bin/skiff" kubectl --kubeconfig "$data/kubeconfig" get --raw /readyz >/dev/null 2>&1
  fi
}

start() { # start RUNTIME: a fresh skiff serve; sets $data and $pid
  data=$(mktemp -d)
  local t0 url
  t0=$(date +%s.%N)
  "$bin/skiff" serve --data-dir "$data" --secure-port 0 --runtime "$1" >"$data.log" 2>&1 &
  pid=$!
  until [ -f "$data/kubeconfig" ]; do sleep 0.005; done
  url=$(awk '/server:/{print $2; exit}' "$data/kubeconfig")
  until ready "$url"; do sleep 0.005; done
  echo "start to /readyz 200 ($1 runtime): $(echo "$(date +%s.%N) - $t0" | bc) s"
  # Let the server finish its start-up work (the OpenAPI documents, then
  # giving back start-up memory) so that it is not part of the measurement.
  sleep 3
}
stop() { kill "$pid"; wait "$pid" || true; pid=""; rm -rf "$data" "$data.log"; }
bench() { "$bin/skiff-bench" "$@" --kubeconfig "$data/kubeconfig" --server-pid "$pid" -q --timeout 300s; }

start fake
sleep 7
echo "idle RSS after 10 s: $(awk '/VmRSS/{print $2/1024 " MiB"}' /proc/$pid/status)"
bench crud --workers 16 --duration 20s
bench crud --workers 16 --duration 20s --content-type json
stop
for p in Background Foreground Orphan; do
  start fake
  bench cascade --pods 1000 --propagation $p
  stop
  start fake
  bench cascade --pods 1000 --propagation $p --wait-running
  stop
done
start fake
bench lifecycle --jobs 1 --pods 1000
stop
start fake
bench lifecycle --jobs 1000 --pods 1
stop
start fake
bench watch --watchers 10 --n 10000
bench list --n 10000 --repeat 5
stop

start process
bench lifecycle --jobs 100 --pods 1 --command sh --command -c --command 'exit 0'
stop
