package main

import (
	"strings"
	_ "unsafe" // for go:linkname

	componentversion "k8s.io/component-base/version"

	"github.com/skiff-sh/skiff/internal/server"
)

// The embedded kubectl reads its version (kubectl version, and client-go's
// User-Agent) from package variables that Kubernetes' release builds set with
// -ldflags -X. A plain `go build` sets none, so kubectl reported
// "v0.0.0-master+$Format:%H$" and `kubectl version` failed to parse it. These
// link to the same variables, which setKubectlVersion fills in before kubectl
// runs, with the Kubernetes release that Skiff's k8s.io/kubectl is from.
var (
	//go:linkname componentGitVersion k8s.io/component-base/version.gitVersion
	componentGitVersion string
	//go:linkname componentGitMajor k8s.io/component-base/version.gitMajor
	componentGitMajor string
	//go:linkname componentGitMinor k8s.io/component-base/version.gitMinor
	componentGitMinor string
	//go:linkname componentGitCommit k8s.io/component-base/version.gitCommit
	componentGitCommit string
	//go:linkname componentGitTreeState k8s.io/component-base/version.gitTreeState
	componentGitTreeState string

	//go:linkname clientGitVersion k8s.io/client-go/pkg/version.gitVersion
	clientGitVersion string
	//go:linkname clientGitMajor k8s.io/client-go/pkg/version.gitMajor
	clientGitMajor string
	//go:linkname clientGitMinor k8s.io/client-go/pkg/version.gitMinor
	clientGitMinor string
	//go:linkname clientGitCommit k8s.io/client-go/pkg/version.gitCommit
	clientGitCommit string
	//go:linkname clientGitTreeState k8s.io/client-go/pkg/version.gitTreeState
	clientGitTreeState string
)

// setKubectlVersion gives the embedded kubectl the version of the Kubernetes
// release its libraries are from ("v1.37.2" for the API server's
// "v1.37.2-skiff"); the commit is not known. component-base copies its
// gitVersion at init; SetDynamicVersion takes the new one once the base
// variable agrees with it.
func setKubectlVersion() error {
	v := server.Version
	release, _, _ := strings.Cut(v.GitVersion, "-")
	componentGitVersion, componentGitMajor, componentGitMinor = release, v.Major, v.Minor
	componentGitCommit, componentGitTreeState = v.GitCommit, v.GitTreeState
	clientGitVersion, clientGitMajor, clientGitMinor = release, v.Major, v.Minor
	clientGitCommit, clientGitTreeState = v.GitCommit, v.GitTreeState
	return componentversion.SetDynamicVersion(release)
}
