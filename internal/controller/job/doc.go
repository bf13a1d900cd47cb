// Package job is Skiff's Job controller: a client-go controller that runs
// the Pods of batch/v1 Jobs and keeps their status the way
// kube-controller-manager v1.37 does (parallelism, completions, backoff
// limits and pod failure back-off, active deadlines, suspend, Indexed Jobs,
// podFailurePolicy, backoffLimitPerIndex, successPolicy,
// podReplacementPolicy, managedBy, pod adoption, and status tracking with
// the batch.kubernetes.io/job-tracking pod finalizer).
//
// It talks to the API only through a kubernetes.Interface and differs from
// upstream only in pacing: no 1s sync batch period (DefaultSyncBatchPeriod
// is 10ms), pod writes in parallel bounded by PodWriteConcurrency, and a
// Job's own status writes are reused until the informer catches up.
//
// Usage:
//
//	factory := informers.NewSharedInformerFactory(client, 0)
//	ctrl, err := job.NewController(job.Config{
//		Client:      client,
//		PodInformer: factory.Core().V1().Pods(),
//		JobInformer: factory.Batch().V1().Jobs(),
//		Logger:      logger,
//	})
//	if err != nil {
//		return err
//	}
//	factory.Start(ctx.Done())
//	go func() { errc <- ctrl.Run(ctx, 4) }() // returns after ctx ends
//
// Assumptions about the API server: pods are created with generateName;
// a pod with a deletionTimestamp and the tracking finalizer stays until the
// finalizer is removed; jobs/status updates check resourceVersion; the
// strategic-merge patches in claim.go ($deleteFromPrimitiveList, $patch:
// delete on ownerReferences by uid, metadata.uid as precondition) are
// applied as kube-apiserver applies them.
package job
