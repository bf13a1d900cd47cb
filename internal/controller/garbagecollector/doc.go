// Package garbagecollector is Skiff's garbage collector: upstream's
// kube-controller-manager garbage collector semantics, written on client-go
// metadata informers so it works over PartialObjectMetadata for any resource.
//
// One goroutine builds an owner → dependents graph from informer events over
// the configured resources; owners referenced before they are seen become
// "virtual" nodes that a worker verifies with a live GET. Workers then:
//
//   - Background: when an owner is gone, delete each dependent whose owners
//     are all gone, with preconditions {uid, resourceVersion} and the
//     propagation policy its own finalizers imply (orphan → Orphan,
//     foregroundDeletion → Foreground, otherwise Background).
//   - Foreground: when an owner gets a deletionTimestamp with the
//     foregroundDeletion finalizer, delete all its dependents (dependents with
//     dependents of their own in the foreground), and remove the finalizer
//     with a JSON merge patch carrying resourceVersion once no dependent with
//     blockOwnerDeletion: true remains.
//   - Orphan: when an owner gets a deletionTimestamp with the orphan
//     finalizer, strategic-merge patch each dependent to drop the reference
//     ({"$patch":"delete","uid":...}), then remove the finalizer.
//   - Dangling references (owner 404 or another uid): a dependent with no
//     solid owner is deleted; one with a solid owner only loses the dangling
//     references. Owners verified absent are cached.
//   - Cycles: a dependent waiting on an owner that itself waits on the
//     dependent stops blocking (blockOwnerDeletion=false) before it is
//     deleted, so foreground cycles finish.
//
// Usage, in the composition root:
//
//	md := metadata.NewForConfigOrDie(loopbackConfig) // set QPS/Burst high
//	factory := metadatainformer.NewSharedInformerFactory(md, 0)
//	gc, err := garbagecollector.NewController(garbagecollector.Config{
//		Metadata:  md,
//		Informers: factory,
//		Logger:    logger,
//	})
//	if err != nil {
//		return err
//	}
//	go func() { errc <- gc.Run(ctx, 20) }() // blocks until ctx ends
package garbagecollector
