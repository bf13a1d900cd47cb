package server

import (
	"net/http"
	"testing"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/rest"

	"github.com/skiff-sh/skiff/internal/auth"
)

// The components' event clients carry upstream's rate limits; their other
// clients carry none.
func TestEventClient_UpstreamRates(t *testing.T) {
	configFor := func(user.Info) (*rest.Config, error) { return loopbackConfig(http.NotFoundHandler(), "t"), nil }
	for name, tc := range map[string]struct {
		rate eventRate
		qps  float32
	}{
		"kubelet":            {kubeletEvents, 50},
		"scheduler":          {schedulerEvents, 50},
		"controller manager": {controllerManagerEvents, 20},
	} {
		client, err := eventClient(configFor, auth.SchedulerInfo(), tc.rate)
		if err != nil {
			t.Fatal(err)
		}
		limiter := client.CoreV1().RESTClient().GetRateLimiter()
		if limiter == nil || limiter.QPS() != tc.qps {
			t.Errorf("%s: event client limiter %v, want %v QPS", name, limiter, tc.qps)
		}
	}
	plain, err := configFor(auth.SchedulerInfo())
	if err != nil {
		t.Fatal(err)
	}
	if plain.QPS >= 0 {
		t.Errorf("loopback QPS = %v, want negative (no limit) for the components' other requests", plain.QPS)
	}
}
