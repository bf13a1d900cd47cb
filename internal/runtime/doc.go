// Package runtime runs Pod containers for the Skiff node agent: a resolved
// ContainerSpec in, a running container, its exit status, logs and
// termination message out. It knows no API server.
//
// The name clashes with k8s.io/apimachinery/pkg/runtime, so import it as crt:
//
//	import crt "github.com/skiff-sh/skiff/internal/runtime"
//
// Two implementations of Runtime exist:
//
//   - Process (NewProcess): every container is a local process. The runtime
//     re-executes the current binary as a small init helper (see
//     MaybeRunInit, which main and TestMain must call first); as root the
//     helper runs in fresh mount, UTS and PID namespaces, builds a private
//     root (the image's, or the host's directories), binds the volumes at
//     their mountPath, sets the hostname and credentials, and execs the
//     workload. Output goes to CRI-format log files under the data directory.
//     Memory and CPU limits use cgroup v2 when delegated, else writable
//     cgroup v1, else are not enforced (Capabilities says which). ExecSync
//     (exec probes) runs a command in a running container through
//     util-linux nsenter.
//   - Fake (NewFake): containers run nothing and finish at once or as
//     FakeBehavior says; ExecSync answers with FakeBehavior.ExecExitCode;
//     for benchmarks and scale tests.
//
// Images are not pulled: an ImageResolver maps a reference to a root file
// system. The built-in resolver (BuiltinImages) serves busybox images of any
// registry and tag with the host's busybox-static binary, pause images with a
// built-in pause, and runs everything else on the host's file system.
//
// Usage:
//
//	func main() {
//		crt.MaybeRunInit() // must come first: it may turn this process into a container
//		rt, err := crt.NewProcess(crt.ProcessConfig{Dir: "/var/lib/skiff/runtime", Logger: logger})
//		if err != nil { ... }
//		spec := crt.ContainerSpec{
//			PodUID: "3f1c...", PodNamespace: "default", PodName: "pi-x7z", Name: "pi",
//			Image: "busybox", Command: []string{"sh", "-c", "echo hello; exit 3"},
//		}
//		id, err := rt.StartContainer(ctx, spec)
//		if err != nil { ... } // *crt.StartError, crt.ErrNoCommand, crt.ErrNamespacesUnavailable, ...
//		exit, err := rt.Wait(ctx, id) // exit.ExitCode == 3, exit.Reason == crt.ReasonError
//		err = rt.Logs(ctx, id, crt.LogOptions{TailLines: -1, Timestamps: true}, os.Stdout)
//		err = rt.Remove(ctx, id)
//	}
package runtime
