package service

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry/generic"
)

var serviceKind = corev1.SchemeGroupVersion.WithKind("Service").GroupKind()

// Admit allocates what a valid Service needs and does not hold yet: its
// cluster IP (explicit or the next free one), node ports and health check
// node port. It is the services store's Admit hook, so it runs after
// validation, on create (old nil) and on every update attempt. On error
// whatever this call claimed is released again; addresses the update no
// longer uses are released by the storage decorator once the write
// succeeds.
func (a *Allocator) Admit(ctx context.Context, obj, old runtime.Object) error {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return apierrors.NewInternalError(fmt.Errorf("service allocator: unexpected object %T", obj))
	}
	var oldSvc *corev1.Service
	if old != nil {
		if oldSvc, ok = old.(*corev1.Service); !ok {
			return apierrors.NewInternalError(fmt.Errorf("service allocator: unexpected object %T", old))
		}
	}
	owner := string(svc.UID)
	var claimed []string
	err := a.allocateClusterIP(ctx, svc, oldSvc, owner, &claimed)
	if err == nil {
		err = a.allocateNodePorts(ctx, svc, oldSvc, owner, &claimed)
	}
	// A dry run allocates like a real write, so its answer (the IP it would
	// get, or why not) is the real one, then gives everything back.
	if err != nil || generic.IsDryRun(ctx) {
		for _, key := range claimed {
			if rerr := a.release(ctx, key, owner); rerr != nil {
				a.logger.Error("releasing an allocation", "key", key, "dryRun", generic.IsDryRun(ctx), "err", rerr)
			}
		}
	}
	return err
}

func (a *Allocator) allocateClusterIP(ctx context.Context, svc, old *corev1.Service, owner string, claimed *[]string) error {
	if !needsClusterIP(svc) || isHeadless(svc) {
		return nil
	}
	ips := svc.Spec.ClusterIPs
	if len(ips) > 0 && ips[0] != "" {
		if old != nil && slices.Contains(heldIPs(old), ips[0]) {
			return nil
		}
		ip, err := netip.ParseAddr(ips[0])
		if err != nil { // validation rejects this first
			return apierrors.NewInternalError(fmt.Errorf("failed to parse service IP %q", ips[0]))
		}
		invalid := func(err error) error {
			return apierrors.NewInvalid(serviceKind, svc.Name, field.ErrorList{field.Invalid(specPath.Child("clusterIPs"), ips,
				fmt.Sprintf("failed to allocate IP %s: %v", ips[0], err))})
		}
		if !a.inRange(ip) {
			return invalid(fmt.Errorf("provided IP %s is not in the valid range", ips[0]))
		}
		if err := a.claim(ctx, ipKey(ip.String()), owner, errIPAllocated); errors.Is(err, errIPAllocated) {
			return invalid(err)
		} else if err != nil {
			return apierrors.NewInternalError(err)
		}
		*claimed = append(*claimed, ipKey(ip.String()))
		return nil
	}
	ip, err := a.allocateIP(ctx, owner)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("failed to allocate a serviceIP: %w", err))
	}
	*claimed = append(*claimed, ipKey(ip.String()))
	svc.Spec.ClusterIP = ip.String()
	svc.Spec.ClusterIPs = []string{ip.String()}
	return nil
}

// allocateNodePorts is upstream's initNodePorts/updateNodePorts plus the
// health check node port: explicit ports are claimed, missing ones
// allocated (one per service port number, shared across protocols).
func (a *Allocator) allocateNodePorts(ctx context.Context, svc, old *corev1.Service, owner string, claimed *[]string) error {
	held := map[int32]bool{}
	if old != nil {
		for _, p := range heldNodePorts(old) {
			held[p] = true
		}
	}
	take := func(p int32) error {
		if held[p] {
			return nil
		}
		if !a.ports.contains(int(p)) {
			return a.errPortRange
		}
		if err := a.claim(ctx, portKey(int(p)), owner, errPortAllocated); err != nil {
			return err
		}
		held[p] = true
		*claimed = append(*claimed, portKey(int(p)))
		return nil
	}
	if needsNodePort(svc) {
		bySvcPort := map[int32]int32{}
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			if sp.NodePort == 0 && !shouldAllocateNodePorts(svc) {
				continue
			}
			if sp.NodePort == 0 {
				sp.NodePort = bySvcPort[sp.Port]
			}
			if sp.NodePort == 0 {
				p, err := a.allocatePort(ctx, owner)
				if err != nil {
					return apierrors.NewInternalError(fmt.Errorf("failed to allocate a nodePort: %w", err))
				}
				sp.NodePort, held[int32(p)] = int32(p), true
				*claimed = append(*claimed, portKey(p))
			} else if err := take(sp.NodePort); err != nil {
				return a.portError(svc, specPath.Child("ports").Index(i).Child("nodePort"), sp.NodePort, err)
			}
			bySvcPort[sp.Port] = sp.NodePort
		}
	}
	if !needsHealthCheck(svc) {
		return nil
	}
	if hc := svc.Spec.HealthCheckNodePort; hc != 0 {
		if err := take(hc); err != nil {
			return apierrors.NewInternalError(fmt.Errorf("failed to allocate requested HealthCheck NodePort %d: %w", hc, err))
		}
		return nil
	}
	p, err := a.allocatePort(ctx, owner)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("failed to allocate a HealthCheck NodePort %d: %w", 0, err))
	}
	svc.Spec.HealthCheckNodePort = int32(p)
	*claimed = append(*claimed, portKey(p))
	return nil
}

func (a *Allocator) portError(svc *corev1.Service, p *field.Path, port int32, err error) error {
	if errors.Is(err, errPortAllocated) || errors.Is(err, a.errPortRange) {
		return apierrors.NewInvalid(serviceKind, svc.Name, field.ErrorList{field.Invalid(p, port, err.Error())})
	}
	return apierrors.NewInternalError(err)
}

// heldIPs are the cluster IPs a stored Service holds claims for.
func heldIPs(svc *corev1.Service) []string {
	if !needsClusterIP(svc) || isHeadless(svc) {
		return nil
	}
	var out []string
	for _, ip := range svc.Spec.ClusterIPs {
		if ip != "" && ip != corev1.ClusterIPNone {
			out = append(out, ip)
		}
	}
	return out
}

// heldNodePorts are the node ports (health check included) a stored
// Service holds claims for.
func heldNodePorts(svc *corev1.Service) []int32 {
	var out []int32
	if needsNodePort(svc) {
		for _, p := range svc.Spec.Ports {
			if p.NodePort != 0 && !slices.Contains(out, p.NodePort) {
				out = append(out, p.NodePort)
			}
		}
	}
	if needsHealthCheck(svc) && svc.Spec.HealthCheckNodePort != 0 && !slices.Contains(out, svc.Spec.HealthCheckNodePort) {
		out = append(out, svc.Spec.HealthCheckNodePort)
	}
	return out
}

// claimKeys are every claim key a stored Service holds.
func claimKeys(svc *corev1.Service) []string {
	var keys []string
	for _, ip := range heldIPs(svc) {
		keys = append(keys, ipKey(ip))
	}
	for _, p := range heldNodePorts(svc) {
		keys = append(keys, portKey(int(p)))
	}
	return keys
}
