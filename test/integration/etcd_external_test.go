package integration

import (
	"fmt"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/skiff-sh/skiff/internal/testserver"
)

// startExternalEtcd runs an etcd server in the test process, serving
// clients on a TCP port, as a stand-in for a separately run etcd cluster.
// It returns the client URL.
func startExternalEtcd(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cfg := embed.NewConfig()
	cfg.Name = "external"
	cfg.Dir = filepath.Join(dir, "data")
	client := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	peer := url.URL{Scheme: "unix", Path: filepath.Join(dir, "peer.sock")}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.Name + "=" + peer.String()
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatalf("starting etcd: %v", err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		t.Fatalf("etcd failed: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("etcd not ready after 30s")
	}
	return "http://" + e.Clients[0].Addr().String()
}

func TestExternalEtcd_CRUDListWatch(t *testing.T) {
	t.Parallel()
	endpoint := startExternalEtcd(t)
	ts := startAPI(t, testserver.Options{EtcdServers: []string{endpoint}})
	t.Run("crud", func(t *testing.T) { runCRUDSuite(t, ts) })
	t.Run("list and watch", func(t *testing.T) {
		ctx := testCtx(t)
		cms := ts.Client.CoreV1().ConfigMaps("default")
		list, err := cms.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		for i := 0; i < 30; i++ {
			if _, err := cms.Create(ctx, cmWithLabels(fmt.Sprintf("ext-%02d", i), nil), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < 30; i++ {
			if s := nextSeen(t, w); s.Type != watch.Added || s.Name != fmt.Sprintf("ext-%02d", i) {
				t.Fatalf("event %d: %+v", i, s)
			}
		}
		page, err := cms.List(ctx, metav1.ListOptions{Limit: 10})
		if err != nil || len(page.Items) != 10 || page.Continue == "" {
			t.Fatalf("page: %v items, continue %q, err %v", len(page.Items), page.Continue, err)
		}
		rest, err := cms.List(ctx, metav1.ListOptions{Limit: 100, Continue: page.Continue})
		if err != nil || len(rest.Items) != 20 {
			t.Fatalf("rest: %v items, err %v", len(rest.Items), err)
		}
	})
	t.Run("data lives in the external etcd", func(t *testing.T) {
		if err := ts.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		ts2 := startAPI(t, testserver.Options{EtcdServers: []string{endpoint}})
		cm, err := ts2.Client.CoreV1().ConfigMaps("default").Get(testCtx(t), "ext-29", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("ext-29 after restart on the external etcd: %v", err)
		}
		if cm.Name != "ext-29" {
			t.Errorf("got %s", cm.Name)
		}
	})
}
