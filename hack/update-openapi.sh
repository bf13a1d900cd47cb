#!/usr/bin/env bash
# Regenerates internal/openapi/zz_generated.openapi.go: the OpenAPI schema
# definitions of every type Skiff serves, produced by kube-openapi's
# openapi-gen from the k8s.io/api and k8s.io/apimachinery sources pinned in
# go.mod. Run it from anywhere after bumping k8s.io/api or k8s.io/kube-openapi:
#
#   hack/update-openapi.sh
#
# It needs the Go module proxy only (to fetch openapi-gen's own dependencies).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${root}"

openapi_version="$(go list -m -f '{{.Version}}' k8s.io/kube-openapi)"
tools="$(mktemp -d)"
trap 'rm -rf "${tools}"' EXIT

echo "building openapi-gen from k8s.io/kube-openapi@${openapi_version}" >&2
GOBIN="${tools}" GOFLAGS=-mod=mod go install "k8s.io/kube-openapi/cmd/openapi-gen@${openapi_version}"

# The packages whose types Skiff serves or references. Keep in sync with
# servedGroupVersions in internal/openapi/scheme.go.
packages=(
  k8s.io/api/core/v1
  k8s.io/api/apps/v1
  k8s.io/api/batch/v1
  k8s.io/api/coordination/v1
  k8s.io/api/policy/v1
  k8s.io/api/authentication/v1
  k8s.io/api/authorization/v1
  k8s.io/api/rbac/v1
  k8s.io/api/apidiscovery/v2
  k8s.io/api/autoscaling/v1
  k8s.io/api/scheduling/v1alpha3
  k8s.io/apimachinery/pkg/apis/meta/v1
  k8s.io/apimachinery/pkg/runtime
  k8s.io/apimachinery/pkg/util/intstr
  k8s.io/apimachinery/pkg/api/resource
  k8s.io/apimachinery/pkg/version
)

# Upstream types carry known API-rule violations (list_type_missing...);
# they are reported into a scratch file instead of failing the generation.
"${tools}/openapi-gen" \
  --output-dir "${root}/internal/openapi" \
  --output-pkg github.com/skiff-sh/skiff/internal/openapi \
  --output-file zz_generated.openapi.go \
  --go-header-file "${root}/hack/boilerplate.go.txt" \
  --report-filename "${tools}/api-violations.txt" \
  "${packages[@]}"

gofmt -l "${root}/internal/openapi/zz_generated.openapi.go" | (! grep .) || {
  echo "generated file is not gofmt-clean" >&2
  exit 1
}
echo "wrote internal/openapi/zz_generated.openapi.go" >&2
