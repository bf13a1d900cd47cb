#!/usr/bin/env bash
# Runs every skiff-bench scenario at a small size against `skiff serve` on
# its defaults (a fresh data directory), so the tool cannot silently rot.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(mktemp -d)
data=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$bin" "$data"' EXIT
go build -o "$bin/skiff" ./cmd/skiff
go build -o "$bin/skiff-bench" ./cmd/skiff-bench
"$bin/skiff" serve --data-dir "$data" --secure-port 0 >"$data.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  [ -f "$data/kubeconfig" ] && "$bin/skiff" kubectl --kubeconfig "$data/kubeconfig" get --raw /readyz >/dev/null 2>&1 && break
  sleep 0.1
done
"$bin/skiff-bench" all --kubeconfig "$data/kubeconfig" --n 20 --pods 3 --jobs 2 --repeat 2 --timeout 120s -q
"$bin/skiff-bench" cascade --kubeconfig "$data/kubeconfig" --pods 3 --wait-running --timeout 120s -q
echo "bench smoke: 6 passed, 0 failed"
