// Package node is Skiff's node agent, the kubelet's role: it registers a
// Node (labels, capacity, nodeInfo, Ready condition), keeps its Lease in
// kube-node-lease, runs the Pods bound to it through a runtime
// (internal/runtime) and is the only writer of their status. It talks to
// the API only through a kubernetes.Interface, so it can run on another
// machine later. Scheduling (binding pending pods) lives in
// internal/node/scheduler.
//
// A pod's life on the agent: sandbox and volumes (emptyDir, hostPath,
// configMap, secret, downwardAPI, projected, whose service account tokens
// come from the TokenRequest API and are renewed; see tokens.go) → init
// containers in order, with the kubelet's environment (service variables
// included, serviceenv.go) →
// containers, restarted in place per restartPolicy with the kubelet's
// crash-loop back-off → terminal phase. A deletion stops the containers
// with the pod's grace period (SIGTERM, then SIGKILL, at least 2s later as
// the kubelet's), writes the terminal status, then confirms the deletion
// with a DELETE of grace 0 and the pod's UID as precondition. activeDeadlineSeconds fails the pod with reason
// DeadlineExceeded. Startup, liveness and readiness probes run as the
// kubelet's (exec, httpGet, tcpSocket, grpc; see probe.go): the startup probe
// gates the others, readiness drives containerStatuses[].ready and the
// Ready condition, a failed liveness or startup probe kills the container,
// which restarts unless the restartPolicy is Never. postStart and preStop
// hooks run as the kubelet's (see lifecycle.go). Sidecars (init containers
// with restartPolicy Always) run alongside the containers and stop after
// them (sidecar.go); ephemeral containers (kubectl debug) run once
// (ephemeral.go).
//
// The package also serves the API subresources that reach the node:
// pods/log (LogHandler), pods/exec and pods/attach (ExecHandler),
// pods/portforward (PortForwardHandler) and pods/eviction (EvictionHandler).
//
// Usage:
//
//	agent, err := node.New(node.Config{Client: client, Runtime: rt, Logger: logger})
//	if err != nil { ... }
//	go func() { errc <- agent.Run(ctx) }() // cancelling ctx stops the pods
//	<-agent.Ready()
//	logs := agent.LogHandler()           // apiserver.SubresourceHandler for pods/log
//	eviction := agent.EvictionHandler()  // apiserver.SubresourceHandler for pods/eviction
package node
