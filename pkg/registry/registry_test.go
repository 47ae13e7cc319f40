package registry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// failingManifests is a registry whose /v2/ answers but whose manifests
// always fail with 500; it counts the manifest requests.
func failingManifests(t *testing.T) (name.Reference, *atomic.Int32) {
	t.Helper()
	var attempts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/v2/" {
			w.WriteHeader(http.StatusOK)
			return
		}
		if strings.Contains(req.URL.Path, "/manifests/") {
			attempts.Add(1)
		}
		http.Error(w, `{"errors":[{"code":"UNKNOWN","message":"broken"}]}`, http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/team/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	return ref, &attempts
}

// The default schedule tries a request 5 times in all, as
// docs/registries.md says.
func TestDefaultBackoffTriesFiveTimes(t *testing.T) {
	b := DefaultBackoff()
	if b.Steps != 5 || b.Duration != 500*time.Millisecond || b.Factor != 2 {
		t.Errorf("DefaultBackoff() = %+v, want 5 steps from 0.5 s doubling", b)
	}
	// Same schedule, but fast.
	b.Duration, b.Jitter = time.Millisecond, 0
	ref, attempts := failingManifests(t)
	o := Options{Keychain: anonymous, Backoff: &b}
	if _, err := remote.Head(ref, o.Remote(context.Background())...); err == nil {
		t.Fatal("HEAD of a failing registry succeeded")
	}
	if n := attempts.Load(); n != 5 {
		t.Errorf("the default backoff made %d attempts, want 5", n)
	}
}

func TestBackoffOption(t *testing.T) {
	for _, tc := range []struct {
		steps, want int
	}{
		{1, 1},
		{3, 3},
		{0, 1},  // go-containerregistry alone would make no attempt at all
		{-2, 1}, // likewise
	} {
		ref, attempts := failingManifests(t)
		o := Options{Keychain: anonymous, Backoff: &remote.Backoff{Duration: time.Millisecond, Factor: 1, Steps: tc.steps}}
		if _, err := remote.Head(ref, o.Remote(context.Background())...); err == nil {
			t.Fatalf("Steps %d: HEAD of a failing registry succeeded", tc.steps)
		}
		if n := attempts.Load(); int(n) != tc.want {
			t.Errorf("Steps %d: %d attempts, want %d", tc.steps, n, tc.want)
		}
	}
	// nil means the default; the Options' value is not changed.
	if got := (Options{}).backoff(); got != DefaultBackoff() {
		t.Errorf("Options{}.backoff() = %+v, want DefaultBackoff()", got)
	}
	b := remote.Backoff{Steps: 0}
	(Options{Backoff: &b}).backoff()
	if b.Steps != 0 {
		t.Error("backoff() changed the caller's Backoff")
	}
}
