// Package service is the registry strategy for core/v1 Services and the
// allocator of their cluster IPs and node ports.
//
// The strategy is upstream's (pkg/registry/core/service and
// pkg/apis/core/validation ValidateService): defaulting, the
// clusterIP/clusterIPs/ipFamilies normalisation of a single-stack IPv4
// cluster, validation with upstream's messages, the spec/status split of
// services/status, field selectors and the server-side table.
//
// The Allocator hands out cluster IPs from a service CIDR and node ports
// from a port range. Each address is claimed with a create-if-absent etcd
// key holding the owning Service's uid, so two concurrent creates can never
// get the same IP, across server replicas too. Claims are taken by the
// store's Admit hook and released by a storage decorator when the Service
// key is deleted (or its create fails); Repair re-claims and frees whatever
// a crash or a dry run left behind.
//
//	alloc, _ := service.NewAllocator(service.AllocatorConfig{Storage: st})
//	svcs, _ := generic.NewStore(generic.StoreConfig{
//		Resource: corev1.Resource("services"), Kind: corev1.SchemeGroupVersion.WithKind("Service"),
//		Strategy: service.Strategy, Defaulter: ..., AttrFunc: service.GetAttrs,
//		TableConvertor: service.TableConvertor,
//		Storage: alloc.Storage(), Admit: alloc.Admit, ...
//	})
//	go alloc.Run(ctx, time.Minute) // repair loop
package service
