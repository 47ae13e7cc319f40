package e2e

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"go.yaml.in/yaml/v3"
)

// deadProxy makes any attempt to reach a registry other than 127.0.0.1
// (Docker Hub above all) fail at once.
var deadProxy = []string{"HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "NO_PROXY=127.0.0.1,localhost"}

// kubeProject writes a Go module example.com/demo with programs app and
// worker, and a config/ directory of Kubernetes YAML naming them with
// ko://: Deployments, a Knative Service, a ConfigMap with no references,
// comments and odd formatting that must come out byte for byte.
func kubeProject(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(tempDir(t), "demo")
	writeFile(t, filepath.Join(dir, "go.mod"), "module example.com/demo\n\ngo 1.22\n")
	writeFile(t, filepath.Join(dir, "cmd", "app", "main.go"), "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello from app\") }\n")
	writeFile(t, filepath.Join(dir, "cmd", "worker", "main.go"), "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"worker\") }\n")
	writeFile(t, filepath.Join(dir, "config", "10-deployment.yaml"), `# Leading comment for the deployment file
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app   # trailing comment
  labels: {app: demo, tier: "backend"}
spec:
    replicas: 2          # odd 4-space indentation
    selector:
        matchLabels:
            app: demo
    template:
        metadata:
            labels:
                app: demo
        spec:
            containers:
            - name: app
              image: ko://example.com/demo/cmd/app
              args: ['--flag', "quoted"]
              env:
              - name: SIDECAR_IMAGE
                value: "ko://example.com/demo/cmd/worker"
              - name: LONG
                value: >-
                  folded
                  text
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: worker}
spec:
  selector: {matchLabels: {app: worker}}
  template:
    metadata: {labels: {app: worker}}
    spec:
      containers:
      - {name: worker, image: 'ko://example.com/demo/cmd/worker'}
`)
	writeFile(t, filepath.Join(dir, "config", "20-knative.yaml"), `---
# A Knative Service
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    spec:
      containers:
        - image: ko://example.com/demo/cmd/app
          ports:
            - containerPort: 8080
...
`)
	writeFile(t, filepath.Join(dir, "config", "30-configmap.yaml"), `# no references here
apiVersion: v1
kind: ConfigMap
metadata:
  name: plain    # stays as it is
data:
  key: "value with ko:// inside, not a prefix"
  other: |
    line1
    line2
  number: 0123
`)
	writeFile(t, filepath.Join(dir, "config", "40-lists.yaml"), `apiVersion: v1
kind: ConfigMap
metadata:
  name: lists
data:
  ko://example.com/demo/cmd/app: key-is-a-ref
  flow: "x"
---
apiVersion: v1
kind: ConfigMap
metadata: {name: more}
data:
  images: |-
    ko://example.com/demo/cmd/worker
`)
	return dir
}

// koName is the name ko gives an import path by default.
func koName(repo, ip string) string {
	sum := md5.Sum([]byte(strings.ToLower(ip)))
	return repo + "/" + path.Base(strings.ToLower(ip)) + "-" + hex.EncodeToString(sum[:])
}

// configFiles reads dir/config's files in lexical order.
func configFiles(t *testing.T, dir string) []string {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "config", "*.yaml"))
	sort.Strings(names)
	var out []string
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(data))
	}
	return out
}

// TestResolveKubernetes resolves a directory of Kubernetes YAML against
// a real registry with KO_DOCKER_REPO set, checks that only the
// references changed (byte for byte), that podman pulls and runs a
// resolved image, and that ko v0.19.1, resolving the same directory,
// yields the same documents with the same fields replaced. A per-target
// base (targets.X.base) puts one program on a base image.
func TestResolveKubernetes(t *testing.T) {
	reg := startRegistry(t)
	env := reg.dockerConfig(t, reg.pass)
	dir := kubeProject(t)

	// A base image for ko, and for kiln's per-target base: kiln's own
	// image of the worker.
	r := kiln(t, dir, env, "build", "-q", "--platform", "linux/amd64", "--push", reg.addr+"/kobase", "./cmd/worker")
	if r.code != 0 {
		t.Fatalf("pushing the base: %s", r.stderr)
	}
	baseRef := strings.TrimSpace(r.stdout)
	writeFile(t, filepath.Join(dir, "kiln.yaml"), "targets:\n  cmd/app:\n    base: "+baseRef+"\n")

	repo := reg.addr + "/demo"
	env = append(env, "KO_DOCKER_REPO="+repo)
	imageRefs := filepath.Join(tempDir(t), "refs")
	r = kiln(t, dir, append(env, deadProxy...), "resolve", "-q", "-f", "config", "--image-refs", imageRefs)
	if r.code != 0 {
		t.Fatalf("kiln resolve: exit %d\n%s", r.code, r.stderr)
	}
	refs := map[string]string{}
	for _, ip := range []string{"example.com/demo/cmd/app", "example.com/demo/cmd/worker"} {
		m := regexp.MustCompile(regexp.QuoteMeta(koName(repo, ip)) + `@sha256:[0-9a-f]{64}`).FindString(r.stdout)
		if m == "" {
			t.Fatalf("no reference %s@sha256:... in the output:\n%s", koName(repo, ip), r.stdout)
		}
		refs[ip] = m
	}
	want := strings.Join(configFiles(t, dir), "---\n")
	for ip, ref := range refs {
		want = strings.ReplaceAll(want, "ko://"+ip, ref)
	}
	if r.stdout != want {
		t.Errorf("kiln resolve printed\n%s\nwant exactly\n%s", r.stdout, want)
	}
	if data, _ := os.ReadFile(imageRefs); string(data) != refs["example.com/demo/cmd/app"]+"\n"+refs["example.com/demo/cmd/worker"]+"\n" {
		t.Errorf("--image-refs wrote %q", data)
	}

	// Every reference is pullable; podman runs the app.
	for ip, ref := range refs {
		if _, err := remote.Head(mustRef(t, ref), reg.remoteOpts()...); err != nil {
			t.Errorf("%s: %s is not in the registry: %v", ip, ref, err)
		}
	}
	app := refs["example.com/demo/cmd/app"]
	img, err := remote.Image(mustRef(t, app), reg.remoteOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := img.Manifest(); m.Annotations["org.opencontainers.image.base.name"] != baseRef {
		t.Errorf("app's base is %q, want targets.cmd/app.base %s", m.Annotations["org.opencontainers.image.base.name"], baseRef)
	}
	pm := newPodman(t)
	pm.run("pull", "-q", "--tls-verify=false", "--creds", reg.user+":"+reg.pass, app)
	if out := pm.run("run", "--rm", "--network", "none", app); strings.TrimSpace(out) != "hello from app" {
		t.Errorf("podman run %s printed %q", app, out)
	}

	// kiln build --push, as ko users type it: to $KO_DOCKER_REPO, named
	// as ko names it; the same image as resolve's.
	r2 := kiln(t, dir, append(env, deadProxy...), "build", "-q", "--push", "./cmd/worker")
	if r2.code != 0 || strings.TrimSpace(r2.stdout) != refs["example.com/demo/cmd/worker"] {
		t.Errorf("kiln build --push with KO_DOCKER_REPO: exit %d, %q, want %s\n%s", r2.code, r2.stdout, refs["example.com/demo/cmd/worker"], r2.stderr)
	}

	// ko v0.19.1 on the same directory.
	ko := installKo(t)
	koRepo := reg.addr + "/ko"
	koEnv := append(append(cleanEnv(), env...), "KO_DOCKER_REPO="+koRepo, "KO_DEFAULTBASEIMAGE="+baseRef, "KOCACHE=")
	cmd := exec.Command(ko, "resolve", "--sbom=none", "-f", "config")
	cmd.Dir, cmd.Env = dir, koEnv
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ko resolve: %v\n%s", err, stderr.String())
	}
	kilnDocs, kilnFields := normalise(t, r.stdout, repo)
	koDocs, koFields := normalise(t, stdout.String(), koRepo)
	if !slices.Equal(kilnDocs, koDocs) {
		t.Errorf("documents differ:\nkiln %q\nko   %q", kilnDocs, koDocs)
	}
	if !slices.Equal(kilnFields, koFields) || len(kilnFields) != 6 {
		t.Errorf("replaced fields differ:\nkiln %q\nko   %q", kilnFields, koFields)
	}
}

// installKo installs ko v0.19.1 (cached between runs) with the bench
// harness's script and returns its path.
func installKo(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("bash", filepath.Join(repoRoot, "hack", "install-ko.sh"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if os.Getenv("KILN_E2E") == "1" {
			t.Fatalf("installing ko: %v\n%s", err, stderr.String())
		}
		t.Skipf("ko could not be installed: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// normalise parses a resolved YAML stream into its non-empty documents
// as canonical JSON, with each image reference under repo replaced by
// IMAGE(<name>) (the digest dropped: ko's and kiln's images differ), and
// lists the fields that held a reference as "kind/name: path = name".
func normalise(t *testing.T, stream, repo string) (docs, fields []string) {
	t.Helper()
	ref := regexp.MustCompile(`^` + regexp.QuoteMeta(repo) + `/([a-z0-9-]+)@sha256:[0-9a-f]{64}$`)
	dec := yaml.NewDecoder(strings.NewReader(stream))
	for {
		var doc any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%v in\n%s", err, stream)
		}
		if doc == nil {
			continue
		}
		m, _ := doc.(map[string]any)
		meta, _ := m["metadata"].(map[string]any)
		id := fmt.Sprintf("%v/%v", m["kind"], meta["name"])
		var walk func(v any, p string) any
		walk = func(v any, p string) any {
			switch v := v.(type) {
			case string:
				if s := ref.FindStringSubmatch(strings.TrimSpace(v)); s != nil {
					fields = append(fields, id+": "+p+" = "+s[1])
					return "IMAGE(" + s[1] + ")"
				}
			case map[string]any:
				out := map[string]any{}
				for k, e := range v {
					nk := walk(k, p+"/(a key)").(string)
					out[nk] = walk(e, p+"/"+nk)
				}
				return out
			case []any:
				for i := range v {
					v[i] = walk(v[i], fmt.Sprintf("%s[%d]", p, i))
				}
			}
			return v
		}
		j, err := json.Marshal(walk(doc, ""))
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(j))
	}
	sort.Strings(docs)
	sort.Strings(fields)
	return docs, fields
}

// TestResolveOffline: --push=false pushes nowhere (a dead proxy catches
// any attempt) and names images as each naming strategy says, under the
// repository of the environment; kiln:// paths and stdin work, and an
// unknown program names its file and line.
func TestResolveOffline(t *testing.T) {
	dir := kubeProject(t)
	noPush := append([]string{"KO_DOCKER_REPO=registry.invalid/ko"}, deadProxy...)
	in := "a: ko://example.com/demo/cmd/app\nb: kiln://./cmd/worker # a path\n"
	resolve := func(env []string, stdin string, args ...string) run {
		t.Helper()
		cmd := exec.Command(kilnBin, append([]string{"resolve", "-q", "--push=false", "-f", "-"}, args...)...)
		cmd.Dir, cmd.Env, cmd.Stdin = dir, append(cleanEnv(), env...), strings.NewReader(stdin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return run{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
	}
	digest := `@sha256:[0-9a-f]{64}`
	for _, c := range []struct {
		name  string
		env   []string
		args  []string
		a, b  string // the names of app and worker
		setup func()
	}{
		{"default", noPush, nil, koName("registry.invalid/ko", "example.com/demo/cmd/app"), koName("registry.invalid/ko", "example.com/demo/cmd/worker"), nil},
		{"KILN_DOCKER_REPO first", append([]string{"KILN_DOCKER_REPO=registry.invalid/kiln"}, noPush...), []string{"-B"}, "registry.invalid/kiln/app", "registry.invalid/kiln/worker", nil},
		{"base-import-paths", noPush, []string{"--base-import-paths"}, "registry.invalid/ko/app", "registry.invalid/ko/worker", nil},
		{"preserve-import-paths", noPush, []string{"-P"}, "registry.invalid/ko/example.com/demo/cmd/app", "registry.invalid/ko/example.com/demo/cmd/worker", nil},
		{"bare", noPush, []string{"--bare"}, "registry.invalid/ko", "registry.invalid/ko", nil},
		{"naming in kiln.yaml", noPush, nil, "registry.invalid/ko/example.com/demo/cmd/app", "registry.invalid/ko/example.com/demo/cmd/worker", func() {
			writeFile(t, filepath.Join(dir, "kiln.yaml"), "naming: preserve-import-paths\n")
		}},
	} {
		if c.setup != nil {
			c.setup()
		}
		r := resolve(c.env, in, c.args...)
		want := regexp.MustCompile("^a: " + regexp.QuoteMeta(c.a) + digest + "\nb: " + regexp.QuoteMeta(c.b) + digest + " # a path\n$")
		if r.code != 0 || !want.MatchString(r.stdout) {
			t.Errorf("%s: exit %d, printed\n%s\nwant %s\n%s", c.name, r.code, r.stdout, want, r.stderr)
		}
	}

	r := resolve(noPush, "# c\nx:\n  - ko://example.com/demo/cmd/nope\n")
	if r.code == 0 || !strings.Contains(r.stderr, "-:3 (example.com/demo/cmd/nope)") {
		t.Errorf("unknown program: exit %d, %s", r.code, r.stderr)
	}
	writeFile(t, filepath.Join(dir, "cmd", "broken", "main.go"), "package main\n\nfunc main() { undefined() }\n")
	r = resolve(noPush, "x: ko://example.com/demo/cmd/app\ny: ko://example.com/demo/cmd/broken\n")
	if r.code == 0 || r.stdout != "" || !strings.Contains(r.stderr, "-:2 (example.com/demo/cmd/broken): go build of example.com/demo/cmd/broken") {
		t.Errorf("a build failure: exit %d, %q\n%s", r.code, r.stdout, r.stderr)
	}
	os.RemoveAll(filepath.Join(dir, "cmd", "broken"))
	r = resolve(noPush, "a: example.com/demo/cmd/app\n", "--strict")
	if r.code == 0 || !strings.Contains(r.stderr, "-:1: example.com/demo/cmd/app is a package of this module written without a scheme") {
		t.Errorf("--strict: exit %d, %s", r.code, r.stderr)
	}
	if r := resolve(noPush, "a: example.com/demo/cmd/app\n"); r.code != 0 || r.stdout != "a: example.com/demo/cmd/app\n" {
		t.Errorf("a bare import path without --strict: exit %d, %q %s", r.code, r.stdout, r.stderr)
	}

	// kiln build: --push=false pushes nowhere; --push NAME without a
	// registry host is refused rather than sent to Docker Hub.
	r = kiln(t, dir, deadProxy, "build", "-q", "--push=false", "./cmd/app")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "oci:") {
		t.Errorf("--push=false: exit %d, %q\n%s", r.code, r.stdout, r.stderr)
	}
	r = kiln(t, dir, deadProxy, "build", "-q", "--push", "myapp", "./cmd/app")
	if r.code != 1 || !strings.Contains(r.stderr, "--push myapp names no registry host") {
		t.Errorf("--push myapp: exit %d, %s", r.code, r.stderr)
	}
	r = kiln(t, dir, deadProxy, "resolve", "-q", "-f", "config")
	if r.code != 1 || !strings.Contains(r.stderr, "set KILN_DOCKER_REPO") {
		t.Errorf("resolve with no repository: exit %d, %s", r.code, r.stderr)
	}
}

// TestKilnApply pipes the resolved YAML into the real kubectl. There is
// no cluster here, and kubectl needs an API server even for
// --dry-run=client (discovery, to map kinds to resources; apply also
// GETs the live object), so the test serves a minimal fake one on
// 127.0.0.1 and runs kiln apply -f DIR -- --dry-run=client -o yaml.
func TestKilnApply(t *testing.T) {
	needTool(t, "kubectl")
	dir := kubeProject(t)
	api := httptest.NewServer(fakeKubeAPI())
	t.Cleanup(api.Close)
	kubeconfig := filepath.Join(tempDir(t), "kubeconfig")
	writeFile(t, kubeconfig, fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster: {server: %q}\ncontexts:\n- name: fake\n  context: {cluster: fake, user: fake, namespace: default}\nusers:\n- name: fake\n  user: {}\ncurrent-context: fake\n", api.URL))
	env := append([]string{"KUBECONFIG=" + kubeconfig, "KO_DOCKER_REPO=registry.invalid/demo"}, deadProxy...)
	cache := "--cache-dir=" + tempDir(t)

	r := kiln(t, dir, env, "apply", "-q", "--push=false", "-f", "config", "--", "--dry-run=client", "-o", "yaml", cache)
	if r.code != 0 {
		t.Fatalf("kiln apply: exit %d\n%s", r.code, r.stderr)
	}
	var list struct {
		Kind  string
		Items []map[string]any
	}
	if err := yaml.Unmarshal([]byte(r.stdout), &list); err != nil || list.Kind != "List" || len(list.Items) != 6 {
		t.Fatalf("kubectl printed %d items of a %q (%v):\n%s", len(list.Items), list.Kind, err, r.stdout)
	}
	app := koName("registry.invalid/demo", "example.com/demo/cmd/app")
	if n := strings.Count(r.stdout, "image: "+app+"@sha256:"); n != 2 {
		t.Errorf("kubectl's objects name %s %d times as an image, want 2:\n%s", app, n, r.stdout)
	}
	if strings.Contains(r.stdout, "ko://example.com") {
		t.Errorf("an unresolved reference reached kubectl:\n%s", r.stdout)
	}

	r = kiln(t, dir, env, "create", "-q", "--push=false", "-f", "config/20-knative.yaml", "--", "--dry-run=client", "-o", "name", cache)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "service.serving.knative.dev/hello" {
		t.Errorf("kiln create: exit %d, %q\n%s", r.code, r.stdout, r.stderr)
	}
	r = kiln(t, dir, env, "apply", "-f", "config", "--dry-run=client")
	if r.code != 2 || !strings.Contains(r.stderr, "kubectl's flags go after --") {
		t.Errorf("a kubectl flag before --: exit %d, %s", r.code, r.stderr)
	}
	r = kiln(t, dir, append(env, "PATH="+tempDir(t)), "apply", "-f", "config")
	if r.code != 1 || !strings.Contains(r.stderr, "kubectl is not installed") {
		t.Errorf("without kubectl: exit %d, %s", r.code, r.stderr)
	}
}

// fakeKubeAPI answers the discovery requests kubectl makes for a dry run
// of the kinds the tests use, with an OpenAPI v3 document per group that
// makes kubectl leave field validation to the server, and 404 (the
// object does not exist yet) for everything else.
func fakeKubeAPI() http.Handler {
	type res struct {
		Name       string   `json:"name"`
		Namespaced bool     `json:"namespaced"`
		Kind       string   `json:"kind"`
		Verbs      []string `json:"verbs"`
	}
	verbs := []string{"create", "get", "list", "patch", "update", "delete"}
	groups := map[string][]res{
		"v1":                     {{"configmaps", true, "ConfigMap", verbs}},
		"apps/v1":                {{"deployments", true, "Deployment", verbs}},
		"serving.knative.dev/v1": {{"services", true, "Service", verbs}},
	}
	gvPath := func(gv string) string {
		if gv == "v1" {
			return "api/v1"
		}
		return "apis/" + gv
	}
	write := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimSuffix(r.URL.Path, "/")
		switch {
		case p == "/api":
			write(w, 200, map[string]any{"kind": "APIVersions", "versions": []string{"v1"}, "serverAddressByClientCIDRs": []map[string]string{{"clientCIDR": "0.0.0.0/0", "serverAddress": r.Host}}})
			return
		case p == "/apis":
			var list []map[string]any
			for gv := range groups {
				if g, v, ok := strings.Cut(gv, "/"); ok {
					ver := map[string]string{"groupVersion": gv, "version": v}
					list = append(list, map[string]any{"name": g, "versions": []any{ver}, "preferredVersion": ver})
				}
			}
			write(w, 200, map[string]any{"kind": "APIGroupList", "apiVersion": "v1", "groups": list})
			return
		case p == "/openapi/v3":
			paths := map[string]any{}
			for gv := range groups {
				paths[gvPath(gv)] = map[string]string{"serverRelativeURL": "/openapi/v3/" + gvPath(gv)}
			}
			write(w, 200, map[string]any{"paths": paths})
			return
		case p == "/version":
			write(w, 200, map[string]string{"major": "1", "minor": "32", "gitVersion": "v1.32.0-fake"})
			return
		}
		for gv, rs := range groups {
			g, v, ok := strings.Cut(gv, "/")
			if !ok {
				g, v = "", gv
			}
			switch p {
			case "/" + gvPath(gv):
				write(w, 200, map[string]any{"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": rs})
				return
			case "/openapi/v3/" + gvPath(gv):
				paths := map[string]any{}
				for _, rr := range rs {
					paths["/"+gvPath(gv)+"/namespaces/{namespace}/"+rr.Name+"/{name}"] = map[string]any{"patch": map[string]any{
						"x-kubernetes-group-version-kind": map[string]string{"group": g, "version": v, "kind": rr.Kind},
						"parameters":                      []map[string]any{{"name": "fieldValidation", "in": "query", "schema": map[string]string{"type": "string"}}},
						"responses":                       map[string]any{},
					}}
				}
				write(w, 200, map[string]any{"openapi": "3.0.0", "info": map[string]string{"title": "fake", "version": v}, "paths": paths})
				return
			}
		}
		write(w, 404, map[string]any{"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{}, "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found: " + r.URL.Path})
	})
}

// TestKoYAML builds a project whose only configuration is a .ko.yaml
// from ko's documentation (docs/configuration.md, v0.19.1: the builds
// example and the defaultPlatforms snippet; GOCACHE is the machine's
// rather than /workspace's).
func TestKoYAML(t *testing.T) {
	pm := newPodman(t)
	dir := filepath.Join(tempDir(t), "kodocs")
	writeFile(t, filepath.Join(dir, "go.mod"), "module example.com/kodocs\n\ngo 1.22\n")
	writeFile(t, filepath.Join(dir, "foobar", "foo", "main.go"), "package main\n\nimport \"fmt\"\n\nvar version = \"dev\"\nvar tag = \"no-netgo\"\n\nfunc main() { fmt.Println(\"foo\", version, tag) }\n")
	writeFile(t, filepath.Join(dir, "foobar", "foo", "netgo.go"), "//go:build netgo\n\npackage main\n\nfunc init() { tag = \"netgo\" }\n")
	writeFile(t, filepath.Join(dir, "bar", "main.go"), "package main\n\nfunc main() { println(\"bar\") }\n")
	koYAML := `builds:
- id: foo
  dir: .  # default is .
  main: ./foobar/foo
  env:
  - GOPRIVATE=git.internal.example.com,source.developers.google.com
  flags:
  - -tags
  - netgo
  ldflags:
  - -s -w
  - -extldflags "-static"
  - -X main.version={{.Env.VERSION}}
- id: bar
  dir: ./bar
  main: .  # default is .
  env:
  - GOCACHE=` + strings.TrimSpace(command(t, nil, "go", "env", "GOCACHE")) + `
  ldflags:
  - -s
  - -w
defaultPlatforms:
- linux/arm64
- linux/amd64
`
	writeFile(t, filepath.Join(dir, ".ko.yaml"), koYAML)
	out := filepath.Join(tempDir(t), "out")
	r := kiln(t, dir, append([]string{"VERSION=1.2.3"}, deadProxy...), "build", "-q", "-o", "oci:"+out, "./foobar/foo", "./bar")
	if r.code != 0 {
		t.Fatalf("kiln build: exit %d\n%s", r.code, r.stderr)
	}
	validateLayout(t, out)
	for _, name := range []string{"foo", "bar"} {
		raw := command(t, nil, "skopeo", "inspect", "--raw", "oci:"+out+":"+name)
		if !strings.Contains(raw, `"architecture":"arm64"`) || !strings.Contains(raw, `"architecture":"amd64"`) {
			t.Errorf("%s is not built for defaultPlatforms (linux/arm64, linux/amd64):\n%s", name, raw)
		}
	}
	if got := strings.TrimSpace(pm.run("run", "--rm", "--network", "none", "oci:"+out+":foo")); got != "foo 1.2.3 netgo" {
		t.Errorf("foo printed %q, want its ldflags and flags applied: foo 1.2.3 netgo", got)
	}

	writeFile(t, filepath.Join(dir, ".ko.yaml"), koYAML+"builds2: x\n")
	if r := kiln(t, dir, deadProxy, "build", "-q", "./bar"); r.code == 0 || !strings.Contains(r.stderr, `.ko.yaml:25: kiln cannot honour "builds2"`) {
		t.Errorf("an unknown .ko.yaml key: exit %d, %s", r.code, r.stderr)
	}
}
