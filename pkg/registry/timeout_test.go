package registry

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// silentRegistry accepts connections on 127.0.0.1 and never answers.
func silentRegistry(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// getWithin runs remote.Get of ref with o and fails the test if it takes
// longer than limit.
func getWithin(t *testing.T, ctx context.Context, ref string, o Options, limit time.Duration) error {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := remote.Get(r, o.Remote(ctx)...)
		errc <- err
	}()
	select {
	case err := <-errc:
		return err
	case <-time.After(limit):
		t.Fatalf("remote.Get(%s) still waits after %v", ref, limit)
		return nil
	}
}

func tiny() Timeouts {
	return Timeouts{Dial: time.Second, TLSHandshake: 200 * time.Millisecond, ResponseHeader: 200 * time.Millisecond, Idle: 300 * time.Millisecond}
}

// A registry that takes the connection and then says nothing makes kiln
// give up, naming it, instead of waiting for ever.
func TestRegistryThatNeverAnswers(t *testing.T) {
	host := silentRegistry(t)
	for _, insecure := range []bool{false, true} {
		o := Options{Keychain: anonymous, Insecure: insecure, Timeouts: tiny()}
		err := getWithin(t, context.Background(), host+"/team/app:v1", o, 60*time.Second)
		if err == nil {
			t.Fatal("remote.Get from a silent registry succeeded")
		}
		e := Explain(err, host)
		t.Logf("insecure=%v: %v", insecure, e)
		for _, want := range []string{host, "did not answer in time", "timeout"} {
			if !strings.Contains(e.Error(), want) {
				t.Errorf("Explain(%q) = %q, want it to mention %q", err, e, want)
			}
		}
		if errors.Is(e, context.Canceled) {
			t.Errorf("Explain(%q) = %q is context.Canceled", err, e)
		}
	}
}

// A registry that sends headers and then stops in the middle of the body
// is given up on after the idle timeout.
func TestRegistryStallsInBody(t *testing.T) {
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/v2/" {
			return
		}
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		w.Header().Set("Content-Length", "1000")
		w.Write([]byte(`{"schemaVersion":2,`))
		w.(http.Flusher).Flush()
		select {
		case <-stop:
		case <-req.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) })
	host := strings.TrimPrefix(srv.URL, "http://")
	o := Options{Keychain: anonymous, Timeouts: tiny()}
	err := getWithin(t, context.Background(), host+"/team/app:v1", o, 60*time.Second)
	if err == nil {
		t.Fatal("remote.Get of a stalled manifest succeeded")
	}
	e := Explain(err, host)
	t.Log(e)
	if !strings.Contains(e.Error(), host) || !strings.Contains(e.Error(), "did not answer in time") || !strings.Contains(e.Error(), "idle timeout") {
		t.Errorf("Explain(%q) = %q, want it to say %s did not answer in time", err, e, host)
	}
}

// Interrupting kiln while a registry is slow gives context.Canceled, not
// advice about plain HTTP: this registry speaks plain HTTP on 127.0.0.1,
// so the HTTPS attempt fails at once, and it never answers the HTTP one.
func TestRegistryWaitCancelled(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		<-req.Context().Done()
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	silent := silentRegistry(t)
	for _, h := range []string{host, silent} {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(300*time.Millisecond, cancel)
		err := getWithin(t, ctx, h+"/team/app:v1", Options{Keychain: anonymous}, 30*time.Second)
		cancel()
		if err == nil {
			t.Fatal("remote.Get succeeded")
		}
		e := Explain(err, h)
		if !errors.Is(e, context.Canceled) {
			t.Errorf("Explain(%q) = %q, want context.Canceled", err, e)
		}
		if strings.Contains(e.Error(), "plain HTTP") || strings.Contains(e.Error(), "did not answer") {
			t.Errorf("Explain(%q) = %q, want no advice for an interrupted wait", err, e)
		}
	}
}

// A body that trickles in takes as long as it needs: Idle bounds the
// pauses, not the whole transfer.
func TestSlowBodyIsNotCutOff(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		for range 8 {
			w.Write([]byte("x"))
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond)
		}
	}))
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: Options{Timeouts: Timeouts{ResponseHeader: 300 * time.Millisecond, Idle: 300 * time.Millisecond}}.transport()}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || string(body) != "xxxxxxxx" {
		t.Errorf("reading a slow body = %q, %v", body, err)
	}
}

// Deadlines set on the connection by its user still apply.
func TestIdleConnKeepsUserDeadlines(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c := newIdleConn(a, time.Hour, "pipe")
	defer c.Close()
	c.SetDeadline(time.Now().Add(50 * time.Millisecond))
	start := time.Now()
	_, err := c.Read(make([]byte, 1))
	if !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) > 10*time.Second {
		t.Errorf("Read past a deadline = %v after %v", err, time.Since(start))
	}
	var idle *IdleTimeoutError
	if errors.As(err, &idle) {
		t.Errorf("a deadline of the user was reported as the idle timeout: %v", err)
	}
	// Without one, the idle timeout ends a read that gets nothing.
	c = newIdleConn(a, 50*time.Millisecond, "pipe")
	c.SetDeadline(time.Time{})
	_, err = c.Read(make([]byte, 1))
	if !errors.As(err, &idle) || !isTimeout(err) {
		t.Errorf("Read with nothing to read = %v, want an IdleTimeoutError", err)
	}
}

func TestTimeoutsConfigured(t *testing.T) {
	tr := Options{}.transport().(*http.Transport)
	if tr.ResponseHeaderTimeout != DefaultResponseHeaderTimeout || tr.TLSHandshakeTimeout != DefaultTLSHandshakeTimeout || tr.DialContext == nil {
		t.Errorf("default transport: response header %v, TLS handshake %v", tr.ResponseHeaderTimeout, tr.TLSHandshakeTimeout)
	}
	tr = Options{Timeouts: Timeouts{ResponseHeader: time.Second, TLSHandshake: 2 * time.Second}}.transport().(*http.Transport)
	if tr.ResponseHeaderTimeout != time.Second || tr.TLSHandshakeTimeout != 2*time.Second {
		t.Errorf("configured transport: response header %v, TLS handshake %v", tr.ResponseHeaderTimeout, tr.TLSHandshakeTimeout)
	}
}
