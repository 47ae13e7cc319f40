package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// testRegistry is a Distribution registry with basic auth on 127.0.0.1,
// reached through a proxy that counts what it receives and can fail on
// demand.
type testRegistry struct {
	addr       string // the proxy, host:port
	user, pass string
	stop       func() // stops the registry process

	mu       sync.Mutex
	uploads  int // blob uploads started (POST without mount)
	mounts   int // cross-repository mounts that succeeded
	failNext int // answer 500 to this many next requests
	failed   int
}

func startRegistry(t *testing.T) *testRegistry {
	t.Helper()
	needTool(t, "docker-registry")
	needTool(t, "htpasswd")
	dir := tempDir(t)
	r := &testRegistry{user: "kiln", pass: "s3cret-Pa55"}
	hash := command(t, nil, "htpasswd", "-Bbn", r.user, r.pass)
	htpasswd := filepath.Join(dir, "htpasswd")
	writeFile(t, htpasswd, hash)
	backend := freeAddr(t)
	cfg := filepath.Join(dir, "config.yml")
	writeFile(t, cfg, fmt.Sprintf(`version: 0.1
log: {level: error}
storage:
  filesystem: {rootdirectory: %s}
  delete: {enabled: true}
auth:
  htpasswd: {realm: kiln-test, path: %s}
http: {addr: %s}
`, filepath.Join(dir, "data"), htpasswd, backend))
	logFile, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("docker-registry", "serve", cfg)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	t.Cleanup(func() {
		logFile.Close()
		if t.Failed() {
			data, _ := os.ReadFile(logFile.Name())
			t.Logf("registry log:\n%s", data)
		}
	})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.stop = func() { cmd.Process.Kill(); cmd.Wait() }
	t.Cleanup(r.stop)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + backend + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry on %s did not start: %v", backend, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	target, _ := url.Parse("http://" + backend)
	proxy := httputil.NewSingleHostReverseProxy(target)
	// TestBaseImage stops the registry on purpose; the proxy need not say so.
	proxy.ErrorLog = log.New(io.Discard, "", 0)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		if r.failNext > 0 {
			r.failNext--
			r.failed++
			r.mu.Unlock()
			http.Error(w, "injected failure", http.StatusInternalServerError)
			return
		}
		r.mu.Unlock()
		rec := &statusRecorder{ResponseWriter: w}
		proxy.ServeHTTP(rec, req)
		if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/blobs/uploads/") {
			r.mu.Lock()
			if req.URL.Query().Get("mount") != "" && rec.status == http.StatusCreated {
				r.mounts++
			} else if req.URL.Query().Get("mount") == "" {
				r.uploads++
			}
			r.mu.Unlock()
		}
	}))
	t.Cleanup(srv.Close)
	r.addr = strings.TrimPrefix(srv.URL, "http://")
	return r
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (r *testRegistry) counts() (uploads, mounts int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.uploads, r.mounts
}

// dockerConfig writes a docker config holding the given password for the
// registry, and returns the environment that points kiln at it.
func (r *testRegistry) dockerConfig(t *testing.T, password string) []string {
	t.Helper()
	dir := tempDir(t)
	auth := base64.StdEncoding.EncodeToString([]byte(r.user + ":" + password))
	writeFile(t, filepath.Join(dir, "config.json"), fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, r.addr, auth))
	return []string{"DOCKER_CONFIG=" + dir, "KILN_CACHE_DIR=" + filepath.Join(dir, "cache"), "REGISTRY_AUTH_FILE=", "XDG_RUNTIME_DIR="}
}

// remoteOpts are go-containerregistry options with the registry's
// credentials, for the tests' own checks.
func (r *testRegistry) remoteOpts() []remote.Option {
	return []remote.Option{remote.WithAuth(&authn.Basic{Username: r.user, Password: r.pass})}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

var pushedRE = regexp.MustCompile(`^(\S+)@(sha256:[0-9a-f]{64})$`)

// TestPushAndRun pushes with credentials from a docker config file, has
// podman pull and run the pushed image, and checks that a second push of
// the unchanged image uploads no blob.
func TestPushAndRun(t *testing.T) {
	reg := startRegistry(t)
	env := reg.dockerConfig(t, reg.pass)
	dir := example(t)
	repo := reg.addr + "/team/hello"
	refs := filepath.Join(tempDir(t), "refs.txt")
	r := kiln(t, dir, env, "build", "--push", repo, "-t", "v1", "-t", "latest", "--insecure-registry", "--image-refs", refs)
	if r.code != 0 {
		t.Fatalf("push failed: %s", r.stderr)
	}
	m := pushedRE.FindStringSubmatch(strings.TrimSpace(r.stdout))
	if m == nil || m[1] != repo {
		t.Fatalf("stdout %q, want %s@sha256:...", r.stdout, repo)
	}
	if data, _ := os.ReadFile(refs); string(data) != r.stdout {
		t.Errorf("--image-refs wrote %q, stdout was %q", data, r.stdout)
	}
	first, _ := reg.counts()
	if first == 0 {
		t.Fatal("the proxy saw no upload")
	}
	for _, tag := range []string{"v1", "latest"} {
		desc, err := remote.Head(mustRef(t, repo+":"+tag), reg.remoteOpts()...)
		if err != nil || desc.Digest.String() != m[2] {
			t.Errorf("%s:%s -> %v, %v; want %s", repo, tag, desc, err, m[2])
		}
	}

	// Unchanged: the build is reused and the push uploads nothing.
	r2 := kiln(t, dir, env, "build", "-q", "--push", repo, "-t", "v1", "-t", "latest")
	if r2.code != 0 || r2.stdout != r.stdout {
		t.Fatalf("second push: exit %d, stdout %q (first %q)\n%s", r2.code, r2.stdout, r.stdout, r2.stderr)
	}
	if again, _ := reg.counts(); again != first {
		t.Errorf("a push of the unchanged image started %d uploads", again-first)
	}

	// podman pulls the pushed image and runs it.
	pm := newPodman(t)
	pm.run("pull", "-q", "--tls-verify=false", "--creds", reg.user+":"+reg.pass, repo+"@"+m[2])
	id := strings.TrimSpace(pm.run("run", "-d", "-p", "127.0.0.1::8080", repo+"@"+m[2]))
	defer pm.run("rm", "-f", "-t", "0", id)
	addr := strings.TrimSpace(pm.run("port", id, "8080/tcp"))
	if body := get(t, "http://"+addr+"/", 30*time.Second); !strings.Contains(body, "Hello from kiln!") {
		t.Errorf("pushed image answered %q", body)
	}

	// kiln push republishes the last build elsewhere, with no upload of
	// blobs the registry already has in that repository... but a new
	// repository needs them: check it arrives whole.
	r3 := kiln(t, dir, env, "push", "--repo", reg.addr+"/other/hello")
	if r3.code != 0 || !strings.HasPrefix(r3.stdout, reg.addr+"/other/hello@"+m[2]) {
		t.Fatalf("kiln push: exit %d, stdout %q\n%s", r3.code, r3.stdout, r3.stderr)
	}
	img, err := remote.Image(mustRef(t, reg.addr+"/other/hello@"+m[2]), reg.remoteOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := img.Layers(); err != nil {
		t.Fatal(err)
	}
}

// TestPushCredentialSources: podman's auth file and kiln login are
// credential sources too, and a wrong password fails clearly.
func TestPushCredentialSources(t *testing.T) {
	reg := startRegistry(t)
	dir := example(t)
	cache := "KILN_CACHE_DIR=" + filepath.Join(tempDir(t), "cache")

	t.Run("podman auth file", func(t *testing.T) {
		authDir := tempDir(t)
		auth := base64.StdEncoding.EncodeToString([]byte(reg.user + ":" + reg.pass))
		file := filepath.Join(authDir, "auth.json")
		writeFile(t, file, fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, reg.addr, auth))
		env := []string{"DOCKER_CONFIG=" + tempDir(t), "REGISTRY_AUTH_FILE=" + file, "XDG_RUNTIME_DIR=", cache}
		if r := kiln(t, dir, env, "build", "-q", "--push", reg.addr+"/podman/hello"); r.code != 0 {
			t.Fatalf("push with REGISTRY_AUTH_FILE failed: %s", r.stderr)
		}
	})

	t.Run("kiln login", func(t *testing.T) {
		cfg := tempDir(t)
		env := []string{"DOCKER_CONFIG=" + cfg, "REGISTRY_AUTH_FILE=", "XDG_RUNTIME_DIR=", cache}
		bad := kilnStdin(t, dir, env, "wrong-password\n", "login", reg.addr, "-u", reg.user, "--password-stdin")
		if bad.code == 0 || !strings.Contains(bad.stderr, reg.addr+" refused the login for user "+reg.user) || strings.Contains(bad.stderr, "wrong-password") {
			t.Errorf("login with a wrong password: exit %d, stderr %q", bad.code, bad.stderr)
		}
		if _, err := os.Stat(filepath.Join(cfg, "config.json")); err == nil {
			data, _ := os.ReadFile(filepath.Join(cfg, "config.json"))
			if strings.Contains(string(data), reg.addr) {
				t.Error("a refused login was saved")
			}
		}
		good := kilnStdin(t, dir, env, reg.pass+"\n", "login", reg.addr, "-u", reg.user, "--password-stdin")
		if good.code != 0 || strings.Contains(good.stderr, reg.pass) {
			t.Fatalf("login: exit %d, stderr %q", good.code, good.stderr)
		}
		if r := kiln(t, dir, env, "build", "-q", "--push", reg.addr+"/login/hello"); r.code != 0 {
			t.Fatalf("push after kiln login failed: %s", r.stderr)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		env := append(reg.dockerConfig(t, "not-the-password"), cache)
		r := kiln(t, dir, env, "build", "-q", "--push", reg.addr+"/denied/hello")
		if r.code == 0 {
			t.Fatal("push with a wrong password succeeded")
		}
		want := reg.addr + " refused the credentials (401 Unauthorized)"
		if !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "kiln login") {
			t.Errorf("stderr lacks %q and the hint to log in:\n%s", want, r.stderr)
		}
		if strings.Contains(r.stderr, "not-the-password") {
			t.Error("the error prints the password")
		}
	})
}

func kilnStdin(t *testing.T, dir string, env []string, stdin string, args ...string) run {
	t.Helper()
	cmd := exec.Command(kilnBin, args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := run{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	}
	return r
}

// TestRetriesTransientFailures: a registry that answers 500 twice still
// gets the image.
func TestRetriesTransientFailures(t *testing.T) {
	reg := startRegistry(t)
	env := reg.dockerConfig(t, reg.pass)
	reg.mu.Lock()
	reg.failNext = 2
	reg.mu.Unlock()
	r := kiln(t, example(t), env, "build", "-q", "--push", reg.addr+"/flaky/hello")
	if r.code != 0 {
		t.Fatalf("push through two 500s failed: %s", r.stderr)
	}
	reg.mu.Lock()
	failed := reg.failed
	reg.mu.Unlock()
	if failed != 2 {
		t.Fatalf("the proxy failed %d requests, want 2", failed)
	}
	m := pushedRE.FindStringSubmatch(strings.TrimSpace(r.stdout))
	if m == nil {
		t.Fatalf("stdout %q", r.stdout)
	}
	if _, err := remote.Image(mustRef(t, m[1]+"@"+m[2]), reg.remoteOpts()...); err != nil {
		t.Fatalf("the image is not in the registry: %v", err)
	}
}

// pushBase publishes a three-platform base image with kiln itself, then
// adds an attestation entry (platform unknown/unknown) to its index, as
// BuildKit does, and returns the reference of that index.
func pushBase(t *testing.T, reg *testRegistry, env []string) name.Digest {
	t.Helper()
	r := kiln(t, example(t), env, "build", "-q", "--platform", "linux/amd64,linux/arm64,linux/arm/v7", "--push", reg.addr+"/base/hello", "-t", "plain")
	if r.code != 0 {
		t.Fatalf("pushing the base: %s", r.stderr)
	}
	ref := mustRef(t, reg.addr+"/base/hello:plain")
	idx, err := remote.Index(ref, reg.remoteOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	att := mutate.MediaType(mutate.ConfigMediaType(empty.Image, types.OCIConfigJSON), types.OCIManifestSchema1)
	withAtt := mutate.AppendManifests(idx, mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
		MediaType:   types.OCIManifestSchema1,
		Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
		Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest"},
	}})
	tag := mustRef(t, reg.addr+"/base/hello:v1").(name.Tag)
	if err := remote.WriteIndex(tag, withAtt, reg.remoteOpts()...); err != nil {
		t.Fatal(err)
	}
	d, err := withAtt.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return tag.Context().Digest(d.String())
}

// TestBaseImage builds on a multi-platform base from the registry with
// --platform all, checks what is inherited, pushes with cross-repository
// mounts, and builds again offline from the cache.
func TestBaseImage(t *testing.T) {
	needTool(t, "skopeo")
	reg := startRegistry(t)
	env := reg.dockerConfig(t, reg.pass)
	baseRef := pushBase(t, reg, env)

	dir := example(t)
	writeFile(t, filepath.Join(dir, "kiln.yaml"), "name: app\nenv:\n  GREETING: hi\n")
	// A program other than the base's own, so its binaries are new blobs.
	writeFile(t, filepath.Join(dir, "extra.go"), "package main\n\nvar extra = 1\n")
	out := filepath.Join(tempDir(t), "out")
	r := kiln(t, dir, env, "build", "-q", "--base", reg.addr+"/base/hello:v1", "--platform", "all", "--output", "oci:"+out)
	if r.code != 0 {
		t.Fatalf("build on the base: %s", r.stderr)
	}
	validateLayout(t, out)
	var idx struct {
		Manifests []struct {
			Digest   string
			Platform struct{ Architecture, OS, Variant string }
		}
		Annotations map[string]string
	}
	raw := command(t, nil, "skopeo", "inspect", "--raw", "oci:"+out+":app")
	if err := json.Unmarshal([]byte(raw), &idx); err != nil {
		t.Fatal(err)
	}
	var plats []string
	for _, m := range idx.Manifests {
		plats = append(plats, m.Platform.OS+"/"+m.Platform.Architecture+m.Platform.Variant)
	}
	if strings.Join(plats, " ") != "linux/amd64 linux/arm64 linux/armv7" {
		t.Fatalf("--platform all gave %v, want the base's three platforms without the attestation", plats)
	}
	if idx.Annotations["org.opencontainers.image.base.name"] != reg.addr+"/base/hello:v1" || idx.Annotations["org.opencontainers.image.base.digest"] != baseRef.DigestStr() {
		t.Errorf("index annotations %v", idx.Annotations)
	}

	// What the amd64 image inherited from its base.
	var cfg v1.ConfigFile
	if err := json.Unmarshal([]byte(command(t, nil, "skopeo", "inspect", "--config", "oci:"+out+":app")), &cfg); err != nil {
		t.Fatal(err)
	}
	baseImg, err := remote.Image(baseRef, append(reg.remoteOpts(), remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))...)
	if err != nil {
		t.Fatal(err)
	}
	baseCfg, _ := baseImg.ConfigFile()
	n := len(baseCfg.RootFS.DiffIDs)
	if len(cfg.RootFS.DiffIDs) != n+2 || len(cfg.History) != len(baseCfg.History)+2 {
		t.Fatalf("%d diffIDs and %d history entries; want the base's %d and %d first, then data and binary", len(cfg.RootFS.DiffIDs), len(cfg.History), n, len(baseCfg.History))
	}
	for i := range n {
		if cfg.RootFS.DiffIDs[i] != baseCfg.RootFS.DiffIDs[i] || cfg.History[i].CreatedBy != baseCfg.History[i].CreatedBy {
			t.Errorf("layer %d is not the base's", i)
		}
	}
	wantEnv := "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/kiln/bin"
	if !containsString(cfg.Config.Env, wantEnv) || !containsString(cfg.Config.Env, "GREETING=hi") {
		t.Errorf("env %v: want the base's PATH (not doubled) and GREETING", cfg.Config.Env)
	}
	if cfg.Config.User != baseCfg.Config.User || cfg.Config.Entrypoint[0] != "/kiln/bin/hello" {
		t.Errorf("user %q (base %q), entrypoint %v", cfg.Config.User, baseCfg.Config.User, cfg.Config.Entrypoint)
	}

	// Pushing next to the base mounts its layers instead of uploading.
	up0, mo0 := reg.counts()
	if r := kiln(t, dir, env, "push", "--repo", reg.addr+"/apps/app"); r.code != 0 {
		t.Fatalf("push: %s", r.stderr)
	}
	up1, mo1 := reg.counts()
	if mo1-mo0 == 0 {
		t.Error("no base layer was mounted from the base's repository")
	}
	// The data layer is the base's (same kodata), so it is mounted too:
	// only the three binaries and three configs are new, and the blobs of
	// the SBOMs and provenance attached to them.
	if refs := referrerBlobs(t, dir); up1-up0 != 6+refs {
		t.Errorf("%d uploads; want %d: the 3 binary layers and 3 configs and %d blobs of SBOMs and provenance, nothing of the base", up1-up0, 6+refs, refs)
	}

	// With the base pinned by digest and cached, the registry can be gone.
	writeFile(t, filepath.Join(dir, "extra.go"), "package main\n\nvar extra = 2\n")
	if r := kiln(t, dir, env, "build", "-q", "--base", baseRef.String(), "--platform", "all"); r.code != 0 {
		t.Fatalf("build by digest: %s", r.stderr)
	}
	reg.stop()
	writeFile(t, filepath.Join(dir, "extra.go"), "package main\n\nvar extra = 3\n")
	if r := kiln(t, dir, env, "build", "-q", "--base", baseRef.String(), "--platform", "linux/arm64"); r.code != 0 {
		t.Fatalf("offline build from the cache failed: %s", r.stderr)
	}
	if r := kiln(t, dir, env, "build", "-q", "--base", reg.addr+"/base/hello:v1"); r.code == 0 || !strings.Contains(r.stderr, "fetching base") {
		t.Errorf("a tag with the registry gone should fail to resolve: exit %d %s", r.code, r.stderr)
	}

	// kiln cache shows the cache and prune empties it.
	show := kiln(t, dir, env, "cache")
	if show.code != 0 || !regexp.MustCompile(`: [1-9]\d* blobs, `).MatchString(show.stdout) {
		t.Errorf("kiln cache: %q %s", show.stdout, show.stderr)
	}
	if pr := kiln(t, dir, env, "cache", "prune"); pr.code != 0 || !strings.HasPrefix(pr.stdout, "removed ") {
		t.Errorf("kiln cache prune: %q %s", pr.stdout, pr.stderr)
	}
	if show := kiln(t, dir, env, "cache"); !strings.Contains(show.stdout, ": 0 blobs, 0 B") {
		t.Errorf("after prune: %q", show.stdout)
	}
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestArchivesAndLoad: tar: and oci-archive: outputs load into podman, and
// --load does it directly; without an engine, --load says what to do.
func TestArchivesAndLoad(t *testing.T) {
	needTool(t, "podman")
	dir := example(t)
	work := tempDir(t)
	// podman reads its storage from this file, so kiln's own "podman load"
	// uses the test's throwaway store.
	store := tempDir(t)
	storageConf := filepath.Join(work, "storage.conf")
	writeFile(t, storageConf, fmt.Sprintf("[storage]\ndriver = \"vfs\"\ngraphroot = %q\nrunroot = %q\n", filepath.Join(store, "root"), filepath.Join(store, "run")))
	penv := []string{"CONTAINERS_CONF=" + filepath.Join(repoRoot, "hack", "containers.conf"), "CONTAINERS_STORAGE_CONF=" + storageConf}
	pm := &podman{t: t, store: store, env: penv}
	t.Cleanup(func() { pm.run("rmi", "-af") })

	tarFile := filepath.Join(work, "hello.tar")
	r := kiln(t, dir, nil, "build", "-q", "--output", "tar:"+tarFile, "-t", "v2")
	if r.code != 0 || r.stdout != "docker-archive:"+tarFile+":hello:v2\n" {
		t.Fatalf("tar output: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
	if out := pm.run("load", "-i", tarFile); !strings.Contains(out, "hello:v2") {
		t.Errorf("podman load of the tar: %q", out)
	}

	ociFile := filepath.Join(work, "hello-oci.tar")
	if r := kiln(t, dir, nil, "build", "-q", "--platform", "linux/amd64,linux/arm64", "--output", "oci-archive:"+ociFile); r.code != 0 {
		t.Fatalf("oci-archive output: %s", r.stderr)
	}
	raw := command(t, nil, "skopeo", "inspect", "--raw", "oci-archive:"+ociFile+":hello")
	if !strings.Contains(raw, `"arm64"`) || !strings.Contains(raw, `"amd64"`) {
		t.Errorf("oci-archive does not hold both platforms: %s", raw)
	}

	multi := kiln(t, dir, nil, "build", "-q", "--platform", "linux/amd64,linux/arm64", "--output", "tar:"+tarFile)
	if multi.code == 0 || !strings.Contains(multi.stderr, "holds one platform per image") {
		t.Errorf("a two-platform tar: exit %d, %s", multi.code, multi.stderr)
	}

	loaded := kiln(t, dir, penv, "build", "-q", "--load", "-t", "loaded")
	if loaded.code != 0 {
		t.Fatalf("--load: %s", loaded.stderr)
	}
	if out := pm.run("images", "--format", "{{.Repository}}:{{.Tag}}"); !strings.Contains(out, "hello:loaded") {
		t.Errorf("podman images after --load: %q", out)
	}

	// A multi-platform build loads the image for this machine's platform.
	host := "linux/" + runtime.GOARCH
	other := "linux/arm64"
	if runtime.GOARCH == "arm64" {
		other = "linux/amd64"
	}
	multiLoad := kiln(t, dir, penv, "build", "-q", "--json", "--load", "-t", "multi", "--platform", other+","+host)
	if multiLoad.code != 0 {
		t.Fatalf("--load of a two-platform build: %s", multiLoad.stderr)
	}
	var res struct {
		Images []struct {
			Loaded string
		}
	}
	if err := json.Unmarshal([]byte(multiLoad.stdout), &res); err != nil || len(res.Images) != 1 || res.Images[0].Loaded != "podman" {
		t.Fatalf("--json after --load: %v %s", err, multiLoad.stdout)
	}
	if arch := strings.TrimSpace(pm.run("image", "inspect", "--format", "{{.Architecture}}", "hello:multi")); arch != runtime.GOARCH {
		t.Errorf("podman holds hello:multi for %q, want this machine's %s", arch, runtime.GOARCH)
	}

	// No engine on PATH: only go and git are there.
	bin := tempDir(t)
	for _, tool := range []string{"go", "git"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	none := kiln(t, dir, []string{"PATH=" + bin}, "build", "-q", "--load")
	if none.code == 0 || !strings.Contains(none.stderr, "neither podman nor docker is installed") || !strings.Contains(none.stderr, "--output tar:FILE") {
		t.Errorf("--load without an engine: exit %d, %s", none.code, none.stderr)
	}
}
