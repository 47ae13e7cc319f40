// Package registry talks to registries that implement the OCI distribution
// spec: how kiln authenticates, reaches insecure registries, retries, and
// logs in. Pulling bases is pkg/base's job and pushing is Push's, both over
// go-containerregistry's remote package configured here.
package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Options say how to reach registries.
type Options struct {
	// Insecure allows plain HTTP and unverified TLS, for every registry.
	Insecure bool
	// Keychain finds credentials; nil means DefaultKeychain().
	Keychain authn.Keychain
	// Backoff says how requests that fail transiently (5xx, 408, 429,
	// connection resets) are retried: Steps is the number of attempts in
	// all, Duration the wait after the first failure, multiplied by Factor
	// after each. nil means DefaultBackoff(); Steps below 1 means 1 (no
	// retry).
	Backoff *remote.Backoff
	// Jobs is how many blobs move at once; 0 means 4.
	Jobs int
	// Updates, if set, receives upload or download progress.
	Updates chan<- v1.Update
	// Transport is the base HTTP transport; nil means a copy of
	// http.DefaultTransport (with TLS verification off when Insecure).
	Transport http.RoundTripper
	// Timeouts bound how long kiln waits for a registry; they apply to
	// the transport kiln builds, not to Transport.
	Timeouts Timeouts
	// Log, if set, is told of each HTTP request to a registry and its
	// answer, without credentials (kiln -v).
	Log func(line string)
	// session, set by Shared, is what the requests made with these
	// options (and their copies) share.
	session *session
}

// Timeouts bound waits for a registry that does not answer. Zero fields
// take the defaults (the Default*Timeout constants).
type Timeouts struct {
	// Dial bounds opening a TCP connection.
	Dial time.Duration
	// TLSHandshake bounds the TLS handshake.
	TLSHandshake time.Duration
	// ResponseHeader bounds the wait for an answer's headers once a
	// request (with its body) is sent.
	ResponseHeader time.Duration
	// Idle bounds the time in which no byte moves on a connection, while
	// a body streams either way.
	Idle time.Duration
}

// DefaultKeychain reads credentials where docker and podman keep them:
// the docker config ($DOCKER_CONFIG/config.json or ~/.docker/config.json,
// with its credential helpers) and podman's auth file ($REGISTRY_AUTH_FILE
// or $XDG_RUNTIME_DIR/containers/auth.json).
func DefaultKeychain() authn.Keychain { return authn.DefaultKeychain }

// DefaultBackoff is how transient failures are retried unless Options say
// otherwise: 5 attempts in all, waiting about 0.5, 1, 2 and 4 seconds
// between them (go-containerregistry makes Steps attempts, sleeping
// between consecutive ones).
func DefaultBackoff() remote.Backoff {
	return remote.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 5}
}

// backoff is the retry schedule o asks for.
func (o Options) backoff() remote.Backoff {
	if o.Backoff == nil {
		return DefaultBackoff()
	}
	b := *o.Backoff
	// go-containerregistry makes no attempt at all when Steps < 1.
	b.Steps = max(b.Steps, 1)
	return b
}

// nameOptions are how references are parsed.
func (o Options) nameOptions() []name.Option {
	if o.Insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}

// ParseReference parses an image reference the way o reaches registries.
func (o Options) ParseReference(s string) (name.Reference, error) {
	ref, err := name.ParseReference(s, o.nameOptions()...)
	if err != nil {
		return nil, parseError(s, false, "is not an image reference", err)
	}
	return ref, nil
}

// ParseRepository parses a repository name ("registry.example.com/team/app").
func (o Options) ParseRepository(s string) (name.Repository, error) {
	repo, err := name.NewRepository(s, o.nameOptions()...)
	if err != nil {
		return name.Repository{}, parseError(s, false, "is not a repository name (REGISTRY/PATH, e.g. ghcr.io/org/app)", err)
	}
	return repo, nil
}

// session is one command's share of connections and authorizations.
type session struct {
	// quiet pushes for every request without progress; pull reads.
	quiet *remote.Pusher
	pull  *remote.Puller
}

// Shared returns o set up for the many requests of one command: they use
// one pool of connections; reads go through one puller, and writes
// without progress (a push's referrers and extra tags, the build cache's
// fingerprint tags) through one pusher, each of which pings and
// authorizes a repository once rather than once per request. Requests log
// as ctx says (WithLog).
func (o Options) Shared(ctx context.Context) (Options, error) {
	o.Transport = o.baseTransport()
	o.session = nil
	quiet := o
	quiet.Updates = nil
	p, err := remote.NewPusher(quiet.Remote(ctx)...)
	if err != nil {
		return o, err
	}
	r, err := remote.NewPuller(quiet.Remote(ctx)...)
	if err != nil {
		return o, err
	}
	o.session = &session{quiet: p, pull: r}
	return o, nil
}

// baseTransport is Transport, or a copy of http.DefaultTransport with the
// timeouts and Insecure's TLS setting.
func (o Options) baseTransport() http.RoundTripper {
	if o.Transport != nil {
		return o.Transport
	}
	dt := http.DefaultTransport.(*http.Transport).Clone()
	to := o.Timeouts.withDefaults()
	dt.DialContext = to.dialer()
	dt.TLSHandshakeTimeout = to.TLSHandshake
	dt.ResponseHeaderTimeout = to.ResponseHeader
	if o.Insecure {
		dt.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for with --insecure-registry
	}
	return dt
}

func (o Options) transport() http.RoundTripper {
	t := o.baseTransport()
	if o.Log != nil {
		t = logTransport{next: t, log: o.Log}
	}
	return t
}

// logTransport tells log of each request: method, URL (whose query may
// hold a registry's signed redirect, cut here), status and time.
type logTransport struct {
	next http.RoundTripper
	log  func(string)
}

func (l logTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := l.next.RoundTrip(req)
	u := *req.URL
	u.RawQuery, u.User = "", nil
	switch {
	case err != nil:
		l.log(fmt.Sprintf("%s %s: %v", req.Method, u.String(), err))
	default:
		l.log(fmt.Sprintf("%s %s %s (%s)", req.Method, u.String(), resp.Status, time.Since(start).Round(time.Millisecond)))
	}
	return resp, err
}

type logKey struct{}

// WithLog returns a context under which registry requests made with
// Options whose Log is unset are told to log (kiln -v).
func WithLog(ctx context.Context, log func(line string)) context.Context {
	return context.WithValue(ctx, logKey{}, log)
}

// withContextLog is o with Log taken from ctx when o sets none.
func (o Options) withContextLog(ctx context.Context) Options {
	if o.Log == nil {
		o.Log, _ = ctx.Value(logKey{}).(func(string))
	}
	return o
}

// Remote returns the go-containerregistry options for these settings.
func (o Options) Remote(ctx context.Context) []remote.Option {
	o = o.withContextLog(ctx)
	kc := o.Keychain
	if kc == nil {
		kc = DefaultKeychain()
	}
	jobs := o.Jobs
	if jobs == 0 {
		jobs = max(4, runtime.NumCPU())
	}
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(kc),
		remote.WithTransport(o.transport()),
		remote.WithRetryBackoff(o.backoff()),
		remote.WithJobs(jobs),
		remote.WithUserAgent("kiln"),
	}
	if o.Updates != nil {
		opts = append(opts, remote.WithProgress(o.Updates))
	} else if o.session != nil {
		opts = append(opts, remote.Reuse(o.session.quiet))
	}
	if o.session != nil {
		opts = append(opts, remote.Reuse(o.session.pull))
	}
	return opts
}

// ErrPlainHTTP says that a registry answered in plain HTTP where kiln
// spoke TLS: it is reachable only as an insecure registry.
var ErrPlainHTTP = errors.New("speaks plain HTTP, and kiln talks to it over TLS unless it is told the registry is insecure (Options.Insecure)")

// TimeoutError says that a registry did not answer within the timeouts.
type TimeoutError struct{ Err error }

func (e *TimeoutError) Error() string { return e.Err.Error() }
func (e *TimeoutError) Unwrap() error { return e.Err }

// Explain turns registry errors into messages that say what to do. It
// names the registry and never includes credentials (see Redact). An
// interrupted wait (context.Canceled) is returned as it is; timeouts say
// that the registry did not answer in time, and still match
// context.DeadlineExceeded if they did.
func Explain(err error, registry string) error {
	return Options{}.Explain(err, registry)
}

// hasCredentials reports whether the keychain (the default one: the
// docker config, its helpers, podman's auth file) holds credentials for
// registry, which are then what a 401 refused.
func (o Options) hasCredentials(registry string) bool {
	kc := o.Keychain
	if kc == nil {
		kc = DefaultKeychain()
	}
	reg, err := name.NewRegistry(registry)
	if err != nil {
		return true
	}
	a, err := kc.Resolve(reg)
	if err != nil {
		return true
	}
	cfg, err := a.Authorization()
	return err != nil || (cfg != nil && *cfg != authn.AuthConfig{})
}

// Explain is the package's Explain for requests made with o: a 401 says
// whether credentials were sent.
func (o Options) Explain(err error, registry string) error {
	hasCredentials := o.hasCredentials(registry)
	secrets := secretsIn(registry, true)
	registry = redactString(registry, secrets)
	if errors.Is(err, context.Canceled) {
		return redactErr(err, secrets...)
	}
	if isTimeout(err) {
		return fmt.Errorf("%s did not answer in time: check that the registry is up and reachable from here, or raise the registry timeout (%w)", registry, &TimeoutError{redactErr(err, secrets...)})
	}
	var te *transport.Error
	if !errors.As(err, &te) {
		if strings.Contains(err.Error(), "http: server gave HTTP response to HTTPS client") {
			return fmt.Errorf("%s %w", registry, ErrPlainHTTP)
		}
		return redactErr(err, secrets...)
	}
	switch te.StatusCode {
	case http.StatusUnauthorized:
		if !hasCredentials {
			return fmt.Errorf("%s asks for credentials (401 Unauthorized), and kiln has none for it: log in with 'kiln login %s' (or docker/podman login)", registry, registry)
		}
		return fmt.Errorf("%s refused the credentials (401 Unauthorized): log in with 'kiln login %s' or check your docker/podman credentials", registry, registry)
	case http.StatusForbidden:
		return fmt.Errorf("%s denied access (403 Forbidden): the account may lack permission for this repository", registry)
	}
	return redactErr(err, secrets...)
}
