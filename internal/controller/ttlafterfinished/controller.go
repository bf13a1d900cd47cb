// Package ttlafterfinished deletes finished Jobs once their
// ttlSecondsAfterFinished has passed, as upstream's TTL-after-finished
// controller does: at the Complete/Failed condition's lastTransitionTime plus
// the TTL, it re-reads the Job live and deletes it with propagationPolicy
// Foreground and a uid precondition.
//
// Usage:
//
//	factory := informers.NewSharedInformerFactory(client, 0)
//	c, err := ttlafterfinished.NewController(ttlafterfinished.Config{
//		Client: client, Informers: factory, Logger: logger,
//	})
//	if err != nil { return err }
//	go c.Run(ctx, 2)
package ttlafterfinished

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/skiff-sh/skiff/internal/controller/workers"
)

// Config configures the controller.
type Config struct {
	// Client reads Jobs live and deletes them. Required.
	Client kubernetes.Interface
	// Informers provides the Job informer. Required; Run starts the
	// informers requested here.
	Informers informers.SharedInformerFactory
	// Logger receives the controller's logs. Nil discards them.
	Logger *slog.Logger
	// Clock tells the time and drives the requeue delays. Nil means the real
	// clock.
	Clock clock.WithTicker
}

// Controller deletes expired finished Jobs.
type Controller struct {
	log       *slog.Logger
	client    kubernetes.Interface
	informers informers.SharedInformerFactory
	lister    batchlisters.JobLister
	synced    cache.InformerSynced
	clock     clock.WithTicker
	queue     workqueue.TypedRateLimitingInterface[cache.ObjectName]
}

// NewController builds the controller and registers its informer handlers.
func NewController(cfg Config) (*Controller, error) {
	if cfg.Client == nil {
		return nil, errors.New("ttlafterfinished controller: Client is required")
	}
	if cfg.Informers == nil {
		return nil, errors.New("ttlafterfinished controller: Informers is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	jobs := cfg.Informers.Batch().V1().Jobs()
	c := &Controller{
		log:       cfg.Logger.With("component", "ttl-after-finished-controller"),
		client:    cfg.Client,
		informers: cfg.Informers,
		lister:    jobs.Lister(),
		clock:     cfg.Clock,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[cache.ObjectName](),
			workqueue.TypedRateLimitingQueueConfig[cache.ObjectName]{Clock: cfg.Clock}),
	}
	reg, err := jobs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj any) { c.enqueue(obj) },
	})
	if err != nil {
		return nil, fmt.Errorf("watching jobs: %w", err)
	}
	c.synced = reg.HasSynced
	return c, nil
}

func (c *Controller) enqueue(obj any) {
	job, ok := obj.(*batchv1.Job)
	if !ok || job.DeletionTimestamp != nil || !needsCleanup(job) {
		return
	}
	c.queue.Add(cache.MetaObjectToName(job))
}

// Run starts the requested informers, waits for the cache and runs workers
// until ctx ends; it returns once they have stopped.
func (c *Controller) Run(ctx context.Context, n int) error {
	return workers.Loop[cache.ObjectName]{
		Name: "ttl-after-finished controller", Log: c.log, Start: c.informers.Start, Synced: []cache.InformerSynced{c.synced},
		Queue: c.queue, Sync: c.processJob, KeyName: "job",
	}.Run(ctx, n)
}

// processJob deletes the Job if its TTL has expired, checked against the
// cache and then against a live read; otherwise it requeues the Job for when
// the TTL expires.
func (c *Controller) processJob(ctx context.Context, key cache.ObjectName) error {
	job, err := c.lister.Jobs(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading job from cache: %w", err)
	}
	if expired, err := c.processTTL(key, job); err != nil || !expired {
		return err
	}
	// The cached TTL may be stale: re-read live before deleting. A Job
	// recreated under the same name has another uid and is checked anew.
	fresh, err := c.client.BatchV1().Jobs(key.Namespace).Get(ctx, key.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading job: %w", err)
	}
	if expired, err := c.processTTL(key, fresh); err != nil || !expired {
		return err
	}
	policy := metav1.DeletePropagationForeground
	opts := metav1.DeleteOptions{PropagationPolicy: &policy, Preconditions: &metav1.Preconditions{UID: &fresh.UID}}
	c.log.Debug("deleting expired job", "job", key.String(), "uid", fresh.UID)
	err = c.client.BatchV1().Jobs(key.Namespace).Delete(ctx, key.Name, opts)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting job: %w", err)
	}
	return nil
}

// processTTL reports whether job's TTL has expired; if it has not, the job is
// requeued for the moment it will.
func (c *Controller) processTTL(key cache.ObjectName, job *batchv1.Job) (bool, error) {
	if job.DeletionTimestamp != nil || !needsCleanup(job) {
		return false, nil
	}
	now := c.clock.Now()
	finishAt, expireAt, err := ttlTimes(job)
	if err != nil {
		return false, err
	}
	if finishAt.After(now) {
		c.log.Warn("found job finished in the future, likely due to time skew; cleanup deferred", "job", key.String())
	}
	if left := expireAt.Sub(now); left > 0 {
		c.queue.AddAfter(key, left)
		return false, nil
	}
	return true, nil
}

// needsCleanup: the Job has a TTL and a Complete or Failed condition.
func needsCleanup(job *batchv1.Job) bool {
	return job.Spec.TTLSecondsAfterFinished != nil && finishCondition(job) != nil
}

func finishCondition(job *batchv1.Job) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		cond := &job.Status.Conditions[i]
		if (cond.Type == batchv1.JobComplete || cond.Type == batchv1.JobFailed) && cond.Status == corev1.ConditionTrue {
			return cond
		}
	}
	return nil
}

// ttlTimes returns when job finished and when its TTL expires.
func ttlTimes(job *batchv1.Job) (finishAt, expireAt time.Time, err error) {
	cond := finishCondition(job)
	if cond == nil || cond.LastTransitionTime.IsZero() {
		return time.Time{}, time.Time{}, fmt.Errorf("unable to find the time when the Job %s/%s finished", job.Namespace, job.Name)
	}
	finishAt = cond.LastTransitionTime.UTC()
	ttl := time.Duration(*job.Spec.TTLSecondsAfterFinished) * time.Second
	return finishAt, finishAt.Add(ttl), nil
}
