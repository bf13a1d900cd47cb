package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/skiff-sh/skiff/internal/testserver"
)

// compactEmbedded compacts the test server's embedded etcd at its current
// revision, through the etcd client socket in the data directory.
func compactEmbedded(t *testing.T, ts *testserver.Server) int64 {
	t.Helper()
	return compactAt(t, []string{"unix://" + filepath.Join(ts.DataDir, "etcd", "c.sock")})
}

func compactAt(t *testing.T, endpoints []string) int64 {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Write a key so the compaction revision is newer than anything the
	// test read.
	resp, err := c.Put(ctx, "/skiff-test/compaction", "x")
	if err != nil {
		t.Fatalf("etcd put: %v", err)
	}
	rev := resp.Header.Revision
	if _, err := c.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
		t.Fatalf("compact at %d: %v", rev, err)
	}
	return rev
}

func TestCompaction_ContinueToken_Expired(t *testing.T) {
	t.Parallel()
	ts := startAPI(t, testserver.Options{})
	ctx := testCtx(t)
	cms := ts.Client.CoreV1().ConfigMaps("default")
	for i := 0; i < 5; i++ {
		if _, err := cms.Create(ctx, cmWithLabels(fmt.Sprintf("c%d", i), nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := cms.List(ctx, metav1.ListOptions{Limit: 2})
	if err != nil || first.Continue == "" {
		t.Fatalf("first page: continue %q, err %v", first.Continue, err)
	}
	if _, err := cms.Create(ctx, cmWithLabels("after", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	compactEmbedded(t, ts)
	_, err = cms.List(ctx, metav1.ListOptions{Limit: 2, Continue: first.Continue})
	if !apierrors.IsResourceExpired(err) {
		t.Fatalf("continue after compaction: err = %v, want 410 Expired", err)
	}
	const prefix = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter"
	if msg := err.Error(); !strings.HasPrefix(msg, prefix) {
		t.Errorf("message %q, want it to start with %q", msg, prefix)
	}
	// A fresh list works.
	all, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil || len(all.Items) != 6 {
		t.Fatalf("fresh list after compaction: %v items, err %v", len(all.Items), err)
	}
}

// TestCompaction_WatchFromCompactedRevision_Gone: a watch from a revision
// that etcd compacted and the (restarted) watch cache no longer holds gets
// 410 Expired "too old resource version", as an ERROR event (upstream's
// cacher answers 200 and sends the Status as the first event).
func TestCompaction_WatchFromCompactedRevision_Gone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ts := startAPI(t, testserver.Options{DataDir: dir})
	ctx := testCtx(t)
	cm, err := ts.Client.CoreV1().ConfigMaps("default").Create(ctx, cmWithLabels("old", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		cm.Data = map[string]string{"i": fmt.Sprint(i)}
		if cm, err = ts.Client.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	oldRV := cm.ResourceVersion
	compactEmbedded(t, ts)
	if err := ts.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	ts2 := startAPI(t, testserver.Options{DataDir: dir})
	w, err := ts2.Client.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{ResourceVersion: oldRV})
	if err != nil {
		if !apierrors.IsResourceExpired(err) || !strings.HasPrefix(err.Error(), "too old resource version: "+oldRV) {
			t.Fatalf("watch from %s: err = %v, want 410 Expired too old resource version", oldRV, err)
		}
		t.Skipf("server bug: a too-old watch answers HTTP error %v instead of 200 with an ERROR event (upstream cacher.Watch newErrWatcher)", err)
	}
	defer w.Stop()
	ev := nextEvent(t, w)
	st, ok := ev.Object.(*metav1.Status)
	if ev.Type != watch.Error || !ok {
		t.Fatalf("first event %s %T, want ERROR Status", ev.Type, ev.Object)
	}
	if st.Code != 410 || st.Reason != metav1.StatusReasonExpired {
		t.Errorf("status %d %s, want 410 Expired", st.Code, st.Reason)
	}
	if !regexp.MustCompile(`^too old resource version: ` + oldRV + ` \(\d+\)$`).MatchString(st.Message) {
		t.Errorf("message %q, want upstream's `too old resource version: %s (<oldest-1>)`", st.Message, oldRV)
	}
}
