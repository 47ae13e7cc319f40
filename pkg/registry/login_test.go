package registry

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
)

// basicAuth answers 401 with a Basic challenge unless the request carries
// user and password, and passes authorised requests to next.
func basicAuth(user, password string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		u, p, ok := req.BasicAuth()
		if !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="kiln-test"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, req)
	})
}

// authServer is a registry that takes user and password only.
func authServer(t *testing.T, user, password string) (host string, authorised *atomic.Int32) {
	t.Helper()
	authorised = new(atomic.Int32)
	reg := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(basicAuth(user, password, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		authorised.Add(1)
		reg.ServeHTTP(w, req)
	})))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), authorised
}

func TestLogin(t *testing.T) {
	const user, password = "builder", "s3cr3t-Passw0rd"
	host, authorised := authServer(t, user, password)
	cfgDir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", cfgDir)
	ctx := context.Background()
	cfgFile := filepath.Join(cfgDir, "config.json")

	for _, wrong := range []string{"not-" + password, password + "x"} {
		_, err := Login(ctx, host, user, wrong, Options{})
		if err == nil {
			t.Fatalf("Login accepted the password %q", wrong)
		}
		for _, s := range []string{host, user} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not name %q", err, s)
			}
		}
		if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), password) {
			t.Errorf("error %q shows a password", err)
		}
		if _, err := os.Stat(cfgFile); !os.IsNotExist(err) {
			t.Fatalf("a failed login wrote %s", cfgFile)
		}
	}
	if authorised.Load() != 0 {
		t.Fatalf("wrong passwords were let in")
	}

	got, err := Login(ctx, host, user, password, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got != cfgFile {
		t.Errorf("Login wrote %s, want %s", got, cfgFile)
	}
	if authorised.Load() == 0 {
		t.Error("Login never checked the credentials with the registry")
	}
	if fi, err := os.Stat(cfgFile); err != nil {
		t.Fatal(err)
	} else if fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("%s has mode %v, readable by others", cfgFile, fi.Mode().Perm())
	}
	data, err := os.ReadFile(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	var cf struct {
		Auths map[string]json.RawMessage `json:"auths"`
	}
	if err := json.Unmarshal(data, &cf); err != nil {
		t.Fatalf("%s: %v", cfgFile, err)
	}
	if _, ok := cf.Auths[host]; !ok || len(cf.Auths) != 1 {
		t.Errorf("%s holds auths for %v, want %s", cfgFile, cf.Auths, host)
	}

	reg, err := name.NewRegistry(host)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := authn.DefaultKeychain.Resolve(reg)
	if err != nil {
		t.Fatal(err)
	}
	ac, err := auth.Authorization()
	if err != nil {
		t.Fatal(err)
	}
	if ac.Username != user || ac.Password != password {
		t.Errorf("the keychain finds %q/%q for %s, want %q/%q", ac.Username, ac.Password, host, user, password)
	}

	// kiln's default options find them too: a push works.
	dir, desc := writeLayout(t, newImage(t, nil, "amd64", 1))
	repo, _ := name.NewRepository(host + "/team/app")
	if _, err := Push(ctx, artifact(t, dir, desc), repo, []string{"v1"}, nil, Options{}); err != nil {
		t.Errorf("pushing with the stored credentials: %v", err)
	}
}

// Login writes where $DOCKER_CONFIG points now, which is where the
// keychain reads, even after an earlier login in the same process.
func TestLoginFollowsDockerConfig(t *testing.T) {
	host, _ := authServer(t, "a", "pw-a")
	for i := 0; i < 2; i++ {
		dir := t.TempDir()
		t.Setenv("DOCKER_CONFIG", dir)
		got, err := Login(context.Background(), host, "a", "pw-a", Options{})
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(dir, "config.json"); got != want {
			t.Errorf("login %d wrote %s, want %s", i, got, want)
		}
		if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
			t.Errorf("login %d: %v", i, err)
		}
	}
}

func TestLoginBadInput(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	ctx := context.Background()
	if _, err := Login(ctx, "not a host/", "u", "p", Options{}); err == nil || !strings.Contains(err.Error(), "not a registry host") {
		t.Errorf("Login to an invalid host = %v", err)
	}
	host, authorised := authServer(t, "u", "p")
	for _, up := range [][2]string{{"", "p"}, {"u", ""}} {
		if _, err := Login(ctx, host, up[0], up[1], Options{}); err == nil || !strings.Contains(err.Error(), host) {
			t.Errorf("Login(%q, %q) = %v, want an error naming %s", up[0], up[1], err, host)
		}
	}
	if authorised.Load() != 0 {
		t.Error("Login without a username or password reached the registry")
	}

	// A registry that is not a registry.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.Error(w, "teapot", http.StatusTeapot)
	}))
	t.Cleanup(srv.Close)
	other := strings.TrimPrefix(srv.URL, "http://")
	if _, err := Login(ctx, other, "u", "p", Options{}); err == nil || !strings.Contains(err.Error(), other) {
		t.Errorf("Login to a non-registry = %v, want an error naming %s", err, other)
	}
	if entries, _ := os.ReadDir(os.Getenv("DOCKER_CONFIG")); len(entries) != 0 {
		t.Errorf("failed logins wrote %v", entries)
	}
}

// Registries that hand out tokens check the password at the token
// endpoint.
func TestLoginToken(t *testing.T) {
	const user, password, token = "builder", "t0ken-Passw0rd", "opaque-token-123"
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch {
		case req.URL.Path == "/token":
			if u, p, ok := req.BasicAuth(); !ok || u != user || p != password {
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}`, http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]string{"token": token})
		case req.Header.Get("Authorization") == "Bearer "+token:
			w.Write([]byte("{}"))
		default:
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+srv.URL+`/token",service="kiln-test"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"token required"}]}`, http.StatusUnauthorized)
		}
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()

	_, err := Login(ctx, host, user, "wrong-"+password, Options{})
	if err == nil {
		t.Fatal("Login accepted a wrong password")
	}
	for _, s := range []string{host, user} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %q", err, s)
		}
	}
	if strings.Contains(err.Error(), password) {
		t.Errorf("error %q shows the password", err)
	}
	if entries, _ := os.ReadDir(os.Getenv("DOCKER_CONFIG")); len(entries) != 0 {
		t.Errorf("a failed login wrote %v", entries)
	}

	if _, err := Login(ctx, host, user, password, Options{}); err != nil {
		t.Fatal(err)
	}
	reg, _ := name.NewRegistry(host)
	auth, err := authn.DefaultKeychain.Resolve(reg)
	if err != nil {
		t.Fatal(err)
	}
	if ac, err := auth.Authorization(); err != nil || ac.Username != user || ac.Password != password {
		t.Errorf("the keychain finds %+v, %v", ac, err)
	}
}
