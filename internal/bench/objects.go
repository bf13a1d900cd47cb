package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
)

// jobSpec describes the Job a scenario creates.
type jobSpec struct {
	name        string
	parallelism int32 // also completions; 0 means 1
	suspend     bool
	command     []string
	// annotations go on the pod template.
	annotations map[string]string
	// mutate, when set, adjusts the pod template (node selector, tolerations).
	mutate func(*corev1.PodSpec)
}

// job builds a batch/v1 Job labelled with the run's labels. Its pods carry
// the run label too, so pod watches can select them.
func (e *env) job(s jobSpec) *batchv1.Job {
	n := max(s.parallelism, 1)
	spec := corev1.PodSpec{
		RestartPolicy:                 corev1.RestartPolicyNever,
		TerminationGracePeriodSeconds: ptr.To[int64](0),
		Containers: []corev1.Container{{
			Name:    "main",
			Image:   e.Image,
			Command: s.command,
		}},
	}
	if s.mutate != nil {
		s.mutate(&spec)
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: s.name, Namespace: e.namespace, Labels: e.labels()},
		Spec: batchv1.JobSpec{
			Parallelism: ptr.To(n),
			Completions: ptr.To(n),
			Suspend:     ptr.To(s.suspend),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: e.labels(), Annotations: s.annotations},
				Spec:       spec,
			},
		},
	}
}

// watchFunc opens a watch with the given options.
type watchFunc func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)

// watchLoop watches from resourceVersion rv and passes every Added, Modified
// and Deleted event to handle until handle reports done, handle fails, the
// server reports an error event, or ctx is done. When the server closes the
// stream, the watch is reopened from the last resourceVersion seen, so no
// event is lost or repeated; a 410 Gone on reopening is returned as an error.
func watchLoop(ctx context.Context, fn watchFunc, selector, rv string, handle func(watch.Event) (bool, error)) error {
	for {
		w, err := fn(ctx, metav1.ListOptions{
			LabelSelector:       selector,
			ResourceVersion:     rv,
			AllowWatchBookmarks: true,
		})
		if err != nil {
			return fmt.Errorf("opening watch at resourceVersion %s: %w", rv, err)
		}
		done, last, err := drain(ctx, w, handle)
		w.Stop()
		if done || err != nil {
			return err
		}
		if last != "" {
			rv = last
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// drain consumes one watch stream. It returns the last resourceVersion seen.
func drain(ctx context.Context, w watch.Interface, handle func(watch.Event) (bool, error)) (done bool, last string, err error) {
	for {
		select {
		case <-ctx.Done():
			return false, last, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return false, last, nil
			}
			if ev.Type == watch.Error {
				return false, last, fmt.Errorf("watch error event: %w", apierrors.FromObject(ev.Object))
			}
			if acc, aerr := meta.Accessor(ev.Object); aerr == nil && acc.GetResourceVersion() != "" {
				last = acc.GetResourceVersion()
			}
			if ev.Type == watch.Bookmark {
				continue
			}
			done, err := handle(ev)
			if done || err != nil {
				return done, last, err
			}
		}
	}
}

// parseRV parses a resourceVersion as the etcd revision it is on both
// Kubernetes and Skiff; ordering checks need it as a number.
func parseRV(rv string) (uint64, error) {
	n, err := strconv.ParseUint(rv, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("resourceVersion %q is not a number: %w", rv, err)
	}
	return n, nil
}

// maxFailures caps how many failure messages a result keeps.
const maxFailures = 20

// failureLog collects verification failures. Safe for concurrent use.
type failureLog struct {
	mu    sync.Mutex // guards msgs and extra: workers report concurrently
	msgs  []string
	extra int
}

func (f *failureLog) add(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.msgs) >= maxFailures {
		f.extra++
		return
	}
	f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
}

func (f *failureLog) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := append([]string(nil), f.msgs...)
	if f.extra > 0 {
		out = append(out, fmt.Sprintf("... and %d more failures", f.extra))
	}
	return out
}

// serviceAccountWait bounds the wait for the namespace's "default"
// ServiceAccount.
const serviceAccountWait = 5 * time.Second

// waitDefaultServiceAccount waits, bounded, for the "default" ServiceAccount
// of the namespace. Kubernetes rejects Pods until it exists, which would make
// the Job controller back off and skew the measurement. Servers that create
// no ServiceAccounts are tolerated: the wait just ends.
func (e *env) waitDefaultServiceAccount(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, serviceAccountWait)
	defer cancel()
	for {
		_, err := e.client.CoreV1().ServiceAccounts(e.namespace).Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return
		}
		if !sleepCtx(ctx, 50*time.Millisecond) {
			e.log.Info("no default service account appeared; continuing", "waited", serviceAccountWait, "err", err)
			return
		}
	}
}
