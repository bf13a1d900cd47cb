package main

import (
	"runtime/debug"
	"strings"
	"testing"

	clientversion "k8s.io/client-go/pkg/version"
	componentversion "k8s.io/component-base/version"
)

// The embedded kubectl reports the Kubernetes release of the k8s.io/kubectl
// module it is built from (v0.37.x is Kubernetes v1.37.x), as upstream's
// kubectl binary does, and identifies itself as kubectl.
func TestSetKubectlVersion_MatchesTheKubectlModule(t *testing.T) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		t.Skip("no build information")
	}
	var module string
	for _, dep := range info.Deps {
		if dep.Path == "k8s.io/kubectl" {
			module = dep.Version
		}
	}
	if !strings.HasPrefix(module, "v0.") {
		t.Fatalf("k8s.io/kubectl version %q, want v0.x", module)
	}
	want := "v1." + strings.TrimPrefix(module, "v0.")
	if err := setKubectlVersion(); err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]string{"component-base": componentversion.Get().GitVersion, "client-go": clientversion.Get().GitVersion} {
		if got != want {
			t.Errorf("%s version = %q, want %q", name, got, want)
		}
	}
	if ua := kubectlUserAgent(); !strings.HasPrefix(ua, "kubectl/"+want+" (") {
		t.Errorf("User-Agent = %q, want kubectl/%s (...)", ua, want)
	}
}
