package server

import (
	"context"
	"fmt"
	"reflect"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-sh/skiff/internal/apiserver"
	"github.com/skiff-sh/skiff/internal/registry/generic"
	"github.com/skiff-sh/skiff/internal/registry/service"
)

// serviceRepairInterval is how often leaked cluster IP and node port claims
// are looked for (upstream's repair controllers run every 3 minutes; a
// claim is released after two passes).
const serviceRepairInterval = time.Minute

// buildServices registers core/v1 services and services/status. base
// carries the shared Storage, Hub, Logger and Namespaces. The store writes
// through the allocator's storage, which releases claims when a Service
// goes, and admits through the allocator, which claims them.
func (r *resources) buildServices(base generic.StoreConfig) error {
	alloc, err := service.NewAllocator(service.AllocatorConfig{Storage: base.Storage, Logger: base.Logger})
	if err != nil {
		return err
	}
	cfg := base
	cfg.Resource, cfg.Kind = corev1.Resource("services"), corev1.SchemeGroupVersion.WithKind("Service")
	cfg.NewFunc = func() runtime.Object { return &corev1.Service{} }
	cfg.NewListFunc = func() runtime.Object { return &corev1.ServiceList{} }
	cfg.Strategy, cfg.Defaulter, cfg.AttrFunc = service.Strategy, defaulter(service.SetDefaults), service.GetAttrs
	cfg.TableConvertor, cfg.Admit, cfg.Storage = service.TableConvertor, alloc.Admit, alloc.Storage()
	store, err := generic.NewStore(cfg)
	if err != nil {
		return fmt.Errorf("store services: %w", err)
	}
	r.services, r.serviceAlloc = store, alloc
	r.list = append(r.list, &apiserver.Resource{
		GroupVersion: corev1.SchemeGroupVersion, Name: "services", SingularName: "service", Kind: "Service", ListKind: "ServiceList",
		ShortNames: []string{"svc"}, Categories: []string{"all"}, Verbs: allVerbs, Store: store,
		Subresources: map[string]*apiserver.Subresource{
			"status": {Kind: "Service", Verbs: statusVerbs, Store: store.WithStrategy(service.StatusStrategy)},
		},
	})
	return nil
}

// kubernetesServicePorts is the bootstrap Service's one port, as upstream's
// kubernetes service controller makes it: https 443/TCP to the API's port.
func kubernetesServicePorts(securePort int) []corev1.ServicePort {
	return []corev1.ServicePort{{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443, TargetPort: intstr.FromInt32(int32(securePort))}}
}

// ensureKubernetesService creates the kubernetes Service in default with the
// range's first IP (10.96.0.1), or brings its ports back to the API's
// current port on a restart. Clients (the upstream e2e suite) read its
// clusterIP to learn the cluster's IP family.
func (r *resources) ensureKubernetesService(ctx context.Context, securePort int) error {
	ports := kubernetesServicePorts(securePort)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{Ports: ports, ClusterIP: r.serviceAlloc.KubernetesServiceIP().String(),
			SessionAffinity: corev1.ServiceAffinityNone, Type: corev1.ServiceTypeClusterIP},
	}
	// The Service is read first: a create of an existing one would be
	// refused for its address (claimed by the stored Service) before its name.
	_, err := r.services.Get(ctx, metav1.NamespaceDefault, svc.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		r.services.Default(svc)
		_, err = r.services.Create(ctx, metav1.NamespaceDefault, svc, generic.CreateOptions{})
		switch {
		case err == nil:
			return nil
		case !apierrors.IsAlreadyExists(err) && !apierrors.IsInvalid(err):
			return fmt.Errorf("creating the kubernetes service: %w", err)
		}
		// Another replica created it meanwhile: reconcile it.
	} else if err != nil {
		return fmt.Errorf("reading the kubernetes service: %w", err)
	}
	_, _, err = r.services.Update(ctx, metav1.NamespaceDefault, "kubernetes", func(_ context.Context, cur runtime.Object) (runtime.Object, error) {
		existing := cur.(*corev1.Service).DeepCopy()
		if reflect.DeepEqual(existing.Spec.Ports, ports) && existing.Spec.Type == corev1.ServiceTypeClusterIP {
			return cur, nil
		}
		existing.Spec.Ports, existing.Spec.Type = ports, corev1.ServiceTypeClusterIP
		return existing, nil
	}, generic.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("reconciling the kubernetes service: %w", err)
	}
	return nil
}
