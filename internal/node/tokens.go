package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Upstream's token manager (pkg/kubelet/token) refreshes a token once 80 %
// of its lifetime has passed, or after a day, whichever comes first.
const (
	maxTokenAge         = 24 * time.Hour
	tokenRetryInterval  = 10 * time.Second
	defaultTokenSeconds = 60 * 60
)

// tokenRefreshFraction is the part of a token's life after which it is
// renewed (a variable for tests, which cannot wait 8 minutes).
var tokenRefreshFraction = 0.8

// tokenFile is a service account token the agent wrote into a projected
// volume and keeps fresh while the pod runs.
type tokenFile struct {
	path      string // on the host
	mode      int32
	source    corev1.ServiceAccountTokenProjection
	refreshAt time.Time
}

// fetchToken asks the API for a token bound to pod, as the kubelet does
// for a serviceAccountToken projection.
func (w *podWorker) fetchToken(ctx context.Context, pod *corev1.Pod, src *corev1.ServiceAccountTokenProjection) ([]byte, time.Time, error) {
	exp := int64(defaultTokenSeconds)
	if src.ExpirationSeconds != nil {
		exp = *src.ExpirationSeconds
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &exp,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID},
	}}
	if src.Audience != "" {
		tr.Spec.Audiences = []string{src.Audience}
	}
	issued := w.a.clock.Now()
	out, err := w.a.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, pod.Spec.ServiceAccountName, tr, metav1.CreateOptions{})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("failed to fetch token: %w", err)
	}
	ttl := out.Status.ExpirationTimestamp.Sub(issued)
	refresh := issued.Add(min(time.Duration(float64(ttl)*tokenRefreshFraction), maxTokenAge))
	return []byte(out.Status.Token), refresh, nil
}

// keepTokensFresh rewrites each token file when it is due, until no
// container of the pod runs any more (a terminating pod's preStop hooks may
// still need the API). A failed refresh is retried; the old token stays.
func (w *podWorker) keepTokensFresh(ctx context.Context, pod *corev1.Pod, files []tokenFile) {
	for {
		next := files[0].refreshAt
		for _, f := range files[1:] {
			if f.refreshAt.Before(next) {
				next = f.refreshAt
			}
		}
		t := w.a.clock.NewTimer(max(next.Sub(w.a.clock.Now()), 0))
		select {
		case <-t.C():
		case <-w.done:
			t.Stop()
			return
		case <-ctx.Done():
			t.Stop()
			return
		}
		now := w.a.clock.Now()
		for i := range files {
			f := &files[i]
			if now.Before(f.refreshAt) {
				continue
			}
			data, refresh, err := w.fetchToken(ctx, pod, &f.source)
			if err == nil {
				err = replaceFile(f.path, data, f.mode)
			}
			if err != nil {
				w.logger.Warn("refreshing service account token failed", "path", f.path, "err", err)
				refresh = now.Add(tokenRetryInterval)
			}
			f.refreshAt = refresh
		}
	}
}

// replaceFile writes path through a rename, so a reader sees the old token
// or the new one, never half of one.
func replaceFile(path string, data []byte, mode int32) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".token-")
	if err != nil {
		return fmt.Errorf("writing token: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing token: %w", err)
	}
	if err := tmp.Chmod(os.FileMode(mode) & os.ModePerm); err != nil {
		tmp.Close()
		return fmt.Errorf("writing token: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing token: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing token: %w", err)
	}
	return nil
}
