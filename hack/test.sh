#!/usr/bin/env bash
# Runs Skiff's tests: installs what they need on a fresh Debian machine
# (busybox-static for busybox images, util-linux's nsenter for exec probes),
# then unit, integration and e2e tests,
# with the race detector on the concurrent packages.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v busybox >/dev/null 2>&1 && [ ! -x /bin/busybox ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing busybox-static (busybox images run with it)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null
  else
    echo "warning: busybox is missing; install Debian's busybox-static (busybox image tests will fail)" >&2
  fi
fi

if ! command -v nsenter >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing util-linux (exec probes enter containers with nsenter)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq util-linux >/dev/null
  else
    echo "warning: nsenter is missing; install util-linux (exec probe tests will fail)" >&2
  fi
fi

export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
# Concurrent packages run with -race; everything runs once.
race_pkgs=$(go list ./internal/... | grep -E '/internal/(storage|registry/generic|apiserver|controller|node|runtime|bench|informer)' || true)
other_pkgs=$(go list ./... | grep -v -F -x -f <(printf '%s\n' $race_pkgs) || true)
timeout="${SKIFF_TEST_TIMEOUT:-20m}"
status=0
if [ -n "$race_pkgs" ]; then
  go test -race -timeout "$timeout" $race_pkgs || status=$?
fi
go test -timeout "$timeout" $other_pkgs || status=$?
# Fuzz briefly: token parsing, and request decoding with DeleteOptions
# parsing against a real server (their seed corpora also run above). The
# budget is a number of executions, not a duration: Go 1.26's coordinator
# can fail a duration-bounded run with a bare "context deadline exceeded"
# when a busy worker misses the deadline (go.dev/issue/75804).
go test ./internal/auth -run='^$' -fuzz='^FuzzRequestToken$' -fuzztime=10000x || status=$?
go test ./test/auth -run='^$' -fuzz='^FuzzAPI_DecodeAndDeleteOptions$' -fuzztime=8000x || status=$?
# Every benchmark scenario, at a small size, against a real skiff serve.
bash hack/bench-smoke.sh || status=$?
exit $status
