package build_test

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/kiln-build/kiln/internal/testutil"
	"github.com/kiln-build/kiln/pkg/base"
	"github.com/kiln-build/kiln/pkg/blob"
	"github.com/kiln-build/kiln/pkg/build"
	"github.com/kiln-build/kiln/pkg/buildstore"
	kl "github.com/kiln-build/kiln/pkg/layout"
	"github.com/kiln-build/kiln/pkg/plan"
	"github.com/kiln-build/kiln/pkg/platform"
	"github.com/kiln-build/kiln/pkg/publish"
)

// copyExample copies examples/hello into a new directory and returns it.
func copyExample(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "hello")
	testutil.CopyDir(t, filepath.Join("..", "..", "examples", "hello"), dst)
	return dst
}

func write(t *testing.T, p, content string) { testutil.WriteFile(t, p, content) }

// env is the test process's environment without the variables that
// would change the images.
func env(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SOURCE_DATE_EPOCH=") {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

// opts are a build's options as the tests write them, as strings the way
// the command line takes them; Output publishes the images into an OCI
// layout as kiln build --output oci:DIR does.
type opts struct {
	Dir       string
	Targets   []string
	Platforms string // comma-separated
	Base      string
	Cache     base.Cache
	Env       []string // nil: env()
	Output    string   // "oci:DIR", or "" for none
}

// options are the library's options for o.
func (o opts) options(t *testing.T) build.Options {
	t.Helper()
	bo := build.Options{Plan: plan.Options{Dir: o.Dir, Targets: o.Targets, Base: o.Base, Cache: o.Cache, Env: o.Env}}
	if bo.Plan.Env == nil {
		bo.Plan.Env = env()
	}
	if o.Platforms != "" {
		ps, err := platform.Parse(o.Platforms)
		if err != nil {
			t.Fatal(err)
		}
		bo.Plan.Platforms = ps
	}
	return bo
}

// run builds o and publishes it to o.Output.
func run(t *testing.T, o opts) (*build.Result, error) {
	t.Helper()
	ctx := context.Background()
	res, err := build.Build(ctx, o.options(t))
	if err != nil || o.Output == "" {
		return res, err
	}
	dir, ok := strings.CutPrefix(o.Output, "oci:")
	if !ok {
		t.Fatalf("output %q: the tests publish to oci:DIR only", o.Output)
	}
	pub := publish.Layout{Dir: dir, From: []blob.Store{buildstore.Layout(res.Build).Blobs()}}
	var images []publish.Image
	for _, img := range res.Images {
		images = append(images, publish.Image{Name: img.Name, Artifact: img.Artifact})
	}
	_, err = pub.Publish(ctx, images)
	return res, err
}

func mustBuild(t *testing.T, o opts) *build.Result {
	t.Helper()
	res, err := run(t, o)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return res
}

// images opens the layout's entry named name and returns one image per
// platform, after validating the whole layout.
func images(t *testing.T, dir, name string) map[string]v1.Image {
	t.Helper()
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	root, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(root); err != nil {
		t.Fatalf("layout %s does not validate: %v", dir, err)
	}
	im, err := root.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]v1.Image{}
	for _, d := range im.Manifests {
		if d.Annotations[kl.RefNameAnnotation] != name {
			continue
		}
		if d.MediaType.IsIndex() {
			idx, err := root.ImageIndex(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			sub, _ := idx.IndexManifest()
			for _, m := range sub.Manifests {
				img, err := idx.Image(m.Digest)
				if err != nil {
					t.Fatal(err)
				}
				out[m.Platform.String()] = img
			}
		} else {
			img, err := root.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			out[d.Platform.String()] = img
		}
	}
	if len(out) == 0 {
		t.Fatalf("no image named %q in %s", name, dir)
	}
	return out
}

// files reads every layer of img and returns the final file contents by
// path, with the headers.
func files(t *testing.T, img v1.Image) (map[string][]byte, map[string]*tar.Header) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	content, headers := map[string][]byte{}, map[string]*tar.Header{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(tr)
			name := "/" + strings.TrimSuffix(h.Name, "/")
			content[name], headers[name] = data, h
		}
		rc.Close()
	}
	return content, headers
}

func TestBuildHelloMultiPlatform(t *testing.T) {
	dir := copyExample(t)
	out := filepath.Join(t.TempDir(), "out")
	res := mustBuild(t, opts{Dir: dir, Output: "oci:" + out, Platforms: "linux/amd64,linux/arm64,linux/arm/v7"})
	if len(res.Images) != 1 || res.Images[0].Name != "hello" || len(res.Images[0].Platforms) != 3 {
		t.Fatalf("unexpected result: %+v", res)
	}
	if res.Images[0].MediaType != "application/vnd.oci.image.index.v1+json" {
		t.Errorf("a multi-platform build should be an index, got %s", res.Images[0].MediaType)
	}
	imgs := images(t, out, "hello")
	machines := map[string]elf.Machine{"linux/amd64": elf.EM_X86_64, "linux/arm64": elf.EM_AARCH64, "linux/arm/v7": elf.EM_ARM}
	for plat, machine := range machines {
		img, ok := imgs[plat]
		if !ok {
			t.Fatalf("no image for %s in %v", plat, slices.Collect(mapsKeys(imgs)))
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if got := cf.Platform().String(); got != plat {
			t.Errorf("config platform %s, want %s", got, plat)
		}
		if !slices.Equal(cf.Config.Entrypoint, []string{"/kiln/bin/hello"}) {
			t.Errorf("entrypoint %v", cf.Config.Entrypoint)
		}
		if !slices.Contains(cf.Config.Env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/kiln/bin") ||
			!slices.Contains(cf.Config.Env, "KO_DATA_PATH=/kiln/data") {
			t.Errorf("env %v lacks PATH with /kiln/bin or KO_DATA_PATH", cf.Config.Env)
		}
		if cf.Config.User != "65532:65532" {
			t.Errorf("user %q, want the non-root default", cf.Config.User)
		}
		if cf.Config.Labels["org.opencontainers.image.created"] != "1970-01-01T00:00:00Z" {
			t.Errorf("labels %v", cf.Config.Labels)
		}
		layers, _ := img.Layers()
		if len(cf.History) != len(layers) || len(layers) != 3 {
			t.Fatalf("%d history entries for %d layers, want 3 each", len(cf.History), len(layers))
		}
		for i, want := range []string{"CA certificates", "data kodata -> /kiln/data", "go build"} {
			if !strings.Contains(cf.History[i].CreatedBy, want) || cf.History[i].EmptyLayer {
				t.Errorf("history[%d] = %+v, want created_by mentioning %q", i, cf.History[i], want)
			}
		}
		content, headers := files(t, img)
		f, err := elf.NewFile(bytes.NewReader(content["/kiln/bin/hello"]))
		if err != nil {
			t.Fatalf("%s binary: %v", plat, err)
		}
		if f.Machine != machine {
			t.Errorf("%s binary is for %v, want %v", plat, f.Machine, machine)
		}
		if !strings.Contains(string(content["/kiln/data/greeting.txt"]), "data directory") {
			t.Errorf("kodata file missing or wrong: %q", content["/kiln/data/greeting.txt"])
		}
		if !strings.Contains(string(content["/etc/passwd"]), "nonroot:x:65532:65532") {
			t.Errorf("/etc/passwd lacks the non-root user: %q", content["/etc/passwd"])
		}
		if !bytes.Contains(content["/etc/ssl/certs/ca-certificates.crt"], []byte("BEGIN CERTIFICATE")) {
			t.Error("no CA bundle")
		}
		for name, h := range headers {
			if h.Uid != 0 && name != "/home/nonroot" || !h.ModTime.Equal(time.Unix(0, 0)) {
				t.Errorf("%s: uid %d, mtime %v; want root-owned at the epoch", name, h.Uid, h.ModTime)
			}
		}
		for _, parent := range []string{"/kiln", "/kiln/bin", "/kiln/data", "/etc", "/etc/ssl", "/etc/ssl/certs"} {
			if h, ok := headers[parent]; !ok || h.Typeflag != tar.TypeDir {
				t.Errorf("no explicit directory entry for %s", parent)
			}
		}
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestReproducible builds copies of the example in two directories, into
// two outputs, and expects the same digests.
func TestReproducible(t *testing.T) {
	a, b := copyExample(t), copyExample(t)
	ra := mustBuild(t, opts{Dir: a, Output: "oci:" + filepath.Join(t.TempDir(), "a"), Platforms: "linux/amd64,linux/arm64"})
	rb := mustBuild(t, opts{Dir: b, Output: "oci:" + filepath.Join(t.TempDir(), "b"), Platforms: "linux/amd64,linux/arm64"})
	if ra.Images[0].Digest != rb.Images[0].Digest {
		t.Fatalf("copies in different directories gave %s and %s", ra.Images[0].Digest, rb.Images[0].Digest)
	}
	// The default output (.kiln) gives the same image as oci:DIR.
	rc := mustBuild(t, opts{Dir: a, Platforms: "linux/amd64,linux/arm64"})
	if rc.Images[0].Digest != ra.Images[0].Digest {
		t.Fatalf(".kiln build gave %s, oci:DIR build %s", rc.Images[0].Digest, ra.Images[0].Digest)
	}
}

func TestSourceDateEpoch(t *testing.T) {
	dir := copyExample(t)
	out := filepath.Join(t.TempDir(), "out")
	res := mustBuild(t, opts{Dir: dir, Output: "oci:" + out, Env: env("SOURCE_DATE_EPOCH=1700000000")})
	if res.SourceDate != "2023-11-14T22:13:20Z" || res.SourceDateFrom != "SOURCE_DATE_EPOCH" {
		t.Fatalf("source date %s from %s", res.SourceDate, res.SourceDateFrom)
	}
	for _, img := range images(t, out, "hello") {
		cf, _ := img.ConfigFile()
		if !cf.Created.Time.Equal(time.Unix(1700000000, 0)) || cf.Config.Labels["org.opencontainers.image.created"] != "2023-11-14T22:13:20Z" {
			t.Errorf("created %v, label %q", cf.Created, cf.Config.Labels["org.opencontainers.image.created"])
		}
		_, headers := files(t, img)
		for name, h := range headers {
			if !h.ModTime.Equal(time.Unix(1700000000, 0)) {
				t.Errorf("%s has mtime %v", name, h.ModTime)
			}
		}
	}
}

// TestReuseAndRebuild checks that an unchanged project reuses its build
// and that each kind of change makes a new one.
func TestReuseAndRebuild(t *testing.T) {
	dir := copyExample(t)
	first := mustBuild(t, opts{Dir: dir})
	if first.Reused {
		t.Fatal("first build claims reuse")
	}
	last := func() string {
		target, err := os.Readlink(filepath.Join(dir, ".kiln", "last"))
		if err != nil {
			t.Fatal(err)
		}
		return filepath.Base(target)
	}
	if last() != first.Fingerprint {
		t.Fatalf("last -> %s, want %s", last(), first.Fingerprint)
	}
	again := mustBuild(t, opts{Dir: dir})
	if !again.Reused || again.Images[0].Digest != first.Images[0].Digest {
		t.Fatalf("unchanged rebuild: reused=%v digest %s, want reuse of %s", again.Reused, again.Images[0].Digest, first.Images[0].Digest)
	}
	ignored := filepath.Join(dir, "README.txt")
	write(t, ignored, "not part of any build")
	if r := mustBuild(t, opts{Dir: dir}); !r.Reused {
		t.Error("a file no build reads triggered a rebuild")
	}

	changes := []struct {
		name   string
		change func()
		opt    opts
	}{
		{"source file", func() { write(t, filepath.Join(dir, "extra.go"), "package main\n\nvar extra = 1\n") }, opts{}},
		{"data file", func() { write(t, filepath.Join(dir, "kodata", "greeting.txt"), "changed\n") }, opts{}},
		{"kiln.yaml", func() { write(t, filepath.Join(dir, "kiln.yaml"), "ldflags: [-s, -w]\n") }, opts{}},
		{"environment", func() {}, opts{Env: env("SOURCE_DATE_EPOCH=1")}},
		{"platforms", func() {}, opts{Platforms: "linux/arm64"}},
	}
	seen := map[string]bool{first.Images[0].Digest: true}
	for _, c := range changes {
		c.change()
		c.opt.Dir = dir
		r := mustBuild(t, c.opt)
		if r.Reused || seen[r.Images[0].Digest] {
			t.Errorf("after a change of %s: reused=%v digest %s seen before=%v", c.name, r.Reused, r.Images[0].Digest, seen[r.Images[0].Digest])
		}
		seen[r.Images[0].Digest] = true
		if last() != r.Fingerprint {
			t.Errorf("after %s, last -> %s, want %s", c.name, last(), r.Fingerprint)
		}
	}
	builds, _ := os.ReadDir(filepath.Join(dir, ".kiln", "builds"))
	if len(builds) != 3 {
		t.Errorf("%d builds kept in .kiln/builds, want the 3 newest", len(builds))
	}
}

func TestConfigFile(t *testing.T) {
	dir := copyExample(t)
	write(t, filepath.Join(dir, "assets", "site", "index.html"), "<h1>hi</h1>\n")
	if err := os.Symlink("index.html", filepath.Join(dir, "assets", "site", "home.html")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "version.go"), "package main\n\nvar version = \"dev\"\n\nfunc init() { println(version) }\n")
	write(t, filepath.Join(dir, "kiln.yaml"), `name: example.com/team/greeter
platforms: [linux/arm64]
env:
  GREETING: "hi {{.Env.WHO}}"
  PATH: /opt/bin
ldflags: ["-s", "-w", "-X main.version=v-{{.Timestamp}}"]
flags: ["-tags=kilntest"]
labels:
  team: platform
ports: [8080, "53/udp"]
user: "1000:1000"
data: ["assets/site:/srv/site"]
`)
	out := filepath.Join(t.TempDir(), "out")
	res := mustBuild(t, opts{Dir: dir, Output: "oci:" + out, Env: env("WHO=world", "SOURCE_DATE_EPOCH=42")})
	if res.Images[0].Name != "example.com/team/greeter" {
		t.Fatalf("name %q", res.Images[0].Name)
	}
	imgs := images(t, out, "example.com/team/greeter")
	img, ok := imgs["linux/arm64"]
	if !ok || len(imgs) != 1 {
		t.Fatalf("want only linux/arm64 from kiln.yaml, got %v", slices.Collect(mapsKeys(imgs)))
	}
	cf, _ := img.ConfigFile()
	c := cf.Config
	for _, want := range []string{"GREETING=hi world", "PATH=/opt/bin:/kiln/bin"} {
		if !slices.Contains(c.Env, want) {
			t.Errorf("env %v lacks %s", c.Env, want)
		}
	}
	if c.Labels["team"] != "platform" || c.User != "1000:1000" {
		t.Errorf("labels %v user %q", c.Labels, c.User)
	}
	if _, ok := c.ExposedPorts["8080/tcp"]; !ok || len(c.ExposedPorts) != 2 {
		t.Errorf("exposed ports %v", c.ExposedPorts)
	}
	content, headers := files(t, img)
	if string(content["/srv/site/index.html"]) != "<h1>hi</h1>\n" {
		t.Errorf("data dir not at /srv/site: %v", content["/srv/site/index.html"])
	}
	if h := headers["/srv/site/home.html"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "index.html" {
		t.Errorf("relative symlink not kept: %+v", h)
	}
	if !bytes.Contains(content["/kiln/bin/hello"], []byte("v-42")) {
		t.Error("ldflags template -X main.version=v-{{.Timestamp}} did not reach the binary")
	}

	// A flag overrides the file.
	res = mustBuild(t, opts{Dir: dir, Output: "oci:" + out, Platforms: "linux/amd64", Env: env("WHO=world")})
	if got := res.Images[0].Platforms; len(got) != 1 || got[0].Platform != "linux/amd64" {
		t.Errorf("--platform did not override kiln.yaml: %v", got)
	}
}

func TestSeveralTargets(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "go.mod"), "module example.com/multi\n\ngo 1.22\n")
	for _, name := range []string{"api", "worker"} {
		write(t, filepath.Join(dir, "cmd", name, "main.go"), "package main\n\nfunc main() { println(\""+name+"\") }\n")
	}
	write(t, filepath.Join(dir, "internal", "lib", "lib.go"), "package lib\n")
	out := filepath.Join(t.TempDir(), "out")
	res := mustBuild(t, opts{Dir: dir, Targets: []string{"./..."}, Output: "oci:" + out})
	var names []string
	for _, img := range res.Images {
		names = append(names, img.Name)
		images(t, out, img.Name)
	}
	if !slices.Equal(names, []string{"api", "worker"}) {
		t.Fatalf("images %v, want api and worker (./... keeps main packages only)", names)
	}
	// A second build of one target keeps the other's entry in index.json.
	write(t, filepath.Join(dir, "cmd", "api", "main.go"), "package main\n\nfunc main() { println(\"api2\") }\n")
	mustBuild(t, opts{Dir: dir, Targets: []string{"example.com/multi/cmd/api"}, Output: "oci:" + out})
	images(t, out, "worker")
	images(t, out, "api")
}

func TestTargetsInDifferentModules(t *testing.T) {
	a, b := copyExample(t), t.TempDir()
	write(t, filepath.Join(b, "go.mod"), "module example.com/other\n\ngo 1.22\n")
	write(t, filepath.Join(b, "main.go"), "package main\n\nfunc main() {}\n")
	_, err := run(t, opts{Targets: []string{a, b}, Env: env()})
	if err == nil || !strings.Contains(err.Error(), "different modules") {
		t.Fatalf("want a different-modules error, got %v", err)
	}
}

func TestHostPlatformDefault(t *testing.T) {
	res := mustBuild(t, opts{Dir: copyExample(t), Output: "oci:" + t.TempDir()})
	if p := res.Images[0].Platforms; len(p) != 1 || p[0].Platform != "linux/"+runtime.GOARCH {
		t.Fatalf("default platform %v, want linux/%s", p, runtime.GOARCH)
	}
}

// TestCopiedProjectRebuilds: a project copied or moved elsewhere with its
// .kiln (a CI cache restored into another checkout, a renamed folder)
// sees its own files: a source edited in the copy makes a new build,
// never the reuse of one whose dependency record lists the original's
// files. (It did: the record, found by a key that left out the module's
// folder, named the original's paths, which had not changed.)
func TestCopiedProjectRebuilds(t *testing.T) {
	for _, move := range []bool{false, true} {
		t.Run(map[bool]string{false: "copied", true: "moved"}[move], func(t *testing.T) {
			dir := copyExample(t)
			age(t, dir)
			first := mustBuild(t, opts{Dir: dir})
			// Built again once the folder is old, so the dependency
			// record's stats are trusted and the next build takes the
			// fast path.
			age(t, dir)
			mustBuild(t, opts{Dir: dir})
			other := filepath.Join(t.TempDir(), "elsewhere")
			if move {
				if err := os.Rename(dir, other); err != nil {
					t.Fatal(err)
				}
			} else if out, err := exec.Command("cp", "-a", dir, other).CombinedOutput(); err != nil {
				t.Fatalf("cp -a: %v\n%s", err, out)
			}
			if r := mustBuild(t, opts{Dir: other}); !r.Reused || r.Images[0].Digest != first.Images[0].Digest {
				t.Fatalf("the unchanged copy: reused=%v digest %s, want the reuse of %s", r.Reused, r.Images[0].Digest, first.Images[0].Digest)
			}
			main := filepath.Join(other, "main.go")
			src, err := os.ReadFile(main)
			if err != nil {
				t.Fatal(err)
			}
			write(t, main, string(src)+"\nfunc init() { println(\"edited in the copy\") }\n")
			r := mustBuild(t, opts{Dir: other})
			if r.Reused || r.Images[0].Digest == first.Images[0].Digest {
				t.Fatalf("after an edit in the copy: reused=%v digest %s (the original's %s)", r.Reused, r.Images[0].Digest, first.Images[0].Digest)
			}
		})
	}
}
