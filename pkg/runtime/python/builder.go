package python

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/kiln-build/kiln/pkg/blob"
	"github.com/kiln-build/kiln/pkg/config"
	"github.com/kiln-build/kiln/pkg/hashcache"
	"github.com/kiln-build/kiln/pkg/layer"
	"github.com/kiln-build/kiln/pkg/platform"
	"github.com/kiln-build/kiln/pkg/runtime"
)

// Where things go in the image.
const (
	AppDir      = "/app"                          // the project's files; the working directory
	DepsDir     = "/kiln/python/deps"             // pip's --target directory, on PYTHONPATH
	BinDir      = "/kiln/bin"                     // scripts of dependencies and [project.scripts], on PATH
	WrapperPath = "/kiln/python/kiln_function.py" // the function service
)

// DefaultFunctionModule is where a function is looked for when
// python.module is not set.
const DefaultFunctionModule = "function"

var (
	//go:embed kiln_function.py
	wrapperSource []byte
	//go:embed check.py
	checkSource string
)

// WrapperSource is the function service's code, as written into images.
func WrapperSource() []byte { return slices.Clone(wrapperSource) }

// Options are the settings of one Python project's build.
type Options struct {
	Kind    config.Kind // an app or a function, or "" to detect
	Command []string    // an app's command; overrides detection
	Module  string      // python.module: the function's module, or the module an app runs with -m
	// CloudEvents serves a function's requests as CloudEvents (func.yaml's
	// invoke: cloudevent).
	CloudEvents bool
	// Versions maps each platform ("linux/arm64") to the Python version of
	// its base image, e.g. "3.12.7".
	Versions map[string]string
	Libc     Libc
	Env      []string // the environment kiln runs in; pip's settings come from it
	WorkDir  string   // temporary directory for installs
	Python   string   // the host's interpreter that runs pip; "" means python3
	// Hashes remembers file hashes between runs; nil hashes every time.
	Hashes *hashcache.Cache
	// CacheDir keeps dependency layers between builds (in .kiln), so that
	// a change to the code alone does not run pip; "" keeps none.
	CacheDir string
}

// Builder builds a Python project.
type Builder struct {
	proj       *Project
	opt        Options
	kind       config.Kind
	entrypoint []string
	launchers  map[string]string // [project.scripts] name -> launcher source
	code       *layer.Tree
	host       hostInfo

	codeOnce sync.Once
	codeSum  string
	codeErr  error

	// The code and service layers are the same for every platform:
	// written once per build.
	layersMu sync.Mutex
	shared   map[string]*layer.Layer
}

type hostInfo struct {
	Python    string   `json:"python"`
	Pip       string   `json:"pip"`
	PipConfig []string `json:"pipConfig"`
}

// New reads what the build needs from the project and the host's Python,
// and checks it: the kind, how the app starts or the function's shape, and
// that pip is there.
func New(ctx context.Context, proj *Project, opt Options) (*Builder, error) {
	if opt.Python == "" {
		opt.Python = "python3"
	}
	b := &Builder{proj: proj, opt: opt}
	if err := b.hostInfo(ctx); err != nil {
		return nil, err
	}
	if err := b.resolveKind(ctx); err != nil {
		return nil, err
	}
	code, err := codeTree(proj.Dir, b.findLinks()...)
	if err != nil {
		return nil, err
	}
	b.code = code
	b.launchers = map[string]string{}
	for _, name := range proj.scriptNames() {
		src, err := launcher(name, proj.Scripts[name])
		if err != nil {
			return nil, err
		}
		b.launchers[name] = src
		b.code.AddBytes(path.Join(BinDir, name), []byte(src), 0o755)
	}
	return b, nil
}

// Name is the image name: the project's name, normalised.
func (b *Builder) Name() string { return b.proj.ImageName() }

// Kind is config.KindApp or config.KindFunction.
func (b *Builder) Kind() config.Kind { return b.kind }

// Entrypoint is the image's entrypoint.
func (b *Builder) Entrypoint() []string { return slices.Clone(b.entrypoint) }

// python runs the host's Python with the check script.
func (b *Builder) python(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, b.opt.Python, append([]string{"-c", checkSource}, args...)...)
	cmd.Env = append(slices.Clone(b.opt.Env), "PYTHONDONTWRITEBYTECODE=1")
	runtime.LogCommand(ctx, cmd)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			return nil, fmt.Errorf("kiln needs the host's Python to install dependencies and check code, and running %s failed: %w; install python3 and pip (Debian: apt-get install python3-pip)", b.opt.Python, err)
		}
		return nil, fmt.Errorf("%s: %s", b.opt.Python, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func (b *Builder) hostInfo(ctx context.Context) error {
	out, err := b.python(ctx, "info")
	if err != nil {
		return err
	}
	if err := json.Unmarshal(out, &b.host); err != nil {
		return fmt.Errorf("reading the host Python's answer %q: %w", out, err)
	}
	if b.host.Pip == "" {
		return fmt.Errorf("the host's %s (Python %s) has no pip, which kiln uses to install dependencies: install it (Debian: apt-get install python3-pip)", b.opt.Python, b.host.Python)
	}
	return nil
}

// Fingerprint writes what can change the image for p: the host's pip and
// its settings, the base's Python version and the wheel tags, the
// requirements, the entrypoint and the project's files.
func (b *Builder) Fingerprint(ctx context.Context, w io.Writer, p v1.Platform) error {
	version, tags, err := b.target(p)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "python %s\nplatform %s\nkind %s\nentrypoint %q\nhost python %s pip %s\npip config %q\n",
		version, platform.String(p), b.kind, b.entrypoint, b.host.Python, b.host.Pip, b.host.PipConfig)
	fmt.Fprintf(w, "pip env %q\ntags %q\ndependencies %q\n", b.pipEnv(), tags, b.proj.Dependencies)
	b.findLinksListing(w)
	b.codeOnce.Do(func() {
		var s strings.Builder
		b.codeErr = b.code.Fingerprint(&s, b.opt.Hashes.Sum)
		b.codeSum = s.String()
	})
	if b.codeErr != nil {
		return b.codeErr
	}
	_, err = io.WriteString(w, b.codeSum)
	return err
}

// pipEnv is the pip settings in kiln's environment (PIP_*), sorted.
func (b *Builder) pipEnv() []string {
	var out []string
	for _, kv := range lastOfEach(b.opt.Env) {
		if strings.HasPrefix(kv, "PIP_") {
			out = append(out, kv)
		}
	}
	return out
}

// findLinks are the local folders pip takes wheels from (absolute), whose
// listing is part of the fingerprint and which the code layer leaves out.
func (b *Builder) findLinks() []string {
	var out []string
	add := func(list string) {
		for _, f := range strings.Fields(list) {
			f = strings.TrimPrefix(f, "file://")
			if !filepath.IsAbs(f) {
				// pip runs in the project's directory.
				f = filepath.Join(b.proj.Dir, f)
			}
			if fi, err := os.Stat(f); err == nil && fi.IsDir() && !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	for _, kv := range b.pipEnv() {
		if v, ok := strings.CutPrefix(kv, "PIP_FIND_LINKS="); ok {
			add(v)
		}
	}
	for _, kv := range b.host.PipConfig {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasSuffix(k, ".find-links") {
			add(strings.Trim(v, "'\""))
		}
	}
	return out
}

// target is the base's Python version for p and the wheel platform tags.
func (b *Builder) target(p v1.Platform) (string, []string, error) {
	version := b.opt.Versions[platform.String(p)]
	if version == "" {
		return "", nil, fmt.Errorf("no Python version is known for the base image of %s", platform.String(p))
	}
	tags, err := PlatformTags(p, b.opt.Libc)
	return version, tags, err
}

// hasDeps reports whether there is anything for pip to install.
func (b *Builder) hasDeps() (bool, error) {
	if len(b.proj.Dependencies) > 0 {
		return true, nil
	}
	if !b.proj.HasRequirement {
		return false, nil
	}
	data, err := os.ReadFile(filepath.Join(b.proj.Dir, Requirements))
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			return true, nil
		}
	}
	return false, nil
}

// Build installs the dependencies for p and writes the layers:
// dependencies, the function service (functions only), then the code.
func (b *Builder) Build(ctx context.Context, store blob.Store, p v1.Platform, opt layer.Options) (*runtime.Contribution, error) {
	version, tags, err := b.target(p)
	if err != nil {
		return nil, err
	}
	res := &runtime.Contribution{Entrypoint: b.Entrypoint(), PathDir: BinDir, WorkingDir: AppDir}
	// The base's Python runs the program: the SBOM names it as the
	// toolchain.
	res.Packages = []runtime.Package{{Type: "generic", Name: "python", Version: version, Toolchain: true}}
	pythonPath := []string{AppDir}
	if b.proj.SrcLayout {
		pythonPath = []string{path.Join(AppDir, "src"), AppDir}
	}
	deps, err := b.hasDeps()
	if err != nil {
		return nil, err
	}
	if deps {
		l, pkgs, err := b.installDeps(ctx, store, p, version, tags, opt)
		if err != nil {
			return nil, err
		}
		res.Packages = append(res.Packages, pkgs...)
		minor, _ := MinorOf(version)
		res.Layers = append(res.Layers, mutate.Addendum{
			Layer: l,
			History: runtime.History(opt,
				fmt.Sprintf("kiln: pip install --target %s --only-binary=:all: --python-version %s --platform %s (and older) %s", DepsDir, minor, tags[0], strings.Join(b.requirementArgs(), " ")),
				"Python dependencies for "+platform.String(p)),
		})
		pythonPath = append(pythonPath, DepsDir)
	}
	if b.kind == config.KindFunction {
		t := layer.NewTree()
		t.AddBytes(WrapperPath, wrapperSource, 0o644)
		l, err := b.sharedLayer(ctx, store, "service", t, opt)
		if err != nil {
			return nil, err
		}
		res.Layers = append(res.Layers, mutate.Addendum{Layer: l, History: runtime.History(opt, "kiln: Python function service "+WrapperPath, "serves the function on $PORT (default 8080)")})
	}
	l, err := b.sharedLayer(ctx, store, "code", b.code, opt)
	if err != nil {
		return nil, err
	}
	res.Layers = append(res.Layers, mutate.Addendum{Layer: l, History: runtime.History(opt, "kiln: project files -> "+AppDir, "the project's code")})
	if res.Inputs, err = runtime.Inputs(b.opt.Hashes.Sum, b.proj.Dir, PyProject, Requirements); err != nil {
		return nil, err
	}
	res.Env = []string{
		"PYTHONPATH=" + strings.Join(pythonPath, ":"),
		"PYTHONDONTWRITEBYTECODE=1",
		"PYTHONUNBUFFERED=1",
	}
	return res, nil
}

// sharedLayer writes t into store once per store and layer options.
func (b *Builder) sharedLayer(ctx context.Context, store blob.Store, what string, t *layer.Tree, opt layer.Options) (*layer.Layer, error) {
	b.layersMu.Lock()
	defer b.layersMu.Unlock()
	key := fmt.Sprintf("%s %s %d", what, store.Dir, opt.ModTime.Unix())
	if l, ok := b.shared[key]; ok {
		d, _ := l.Digest()
		if n, _ := l.Size(); store.Has(d, n) {
			return l, nil
		}
	}
	l, err := layer.Write(ctx, store, t, opt)
	if err != nil {
		return nil, err
	}
	if b.shared == nil {
		b.shared = map[string]*layer.Layer{}
	}
	b.shared[key] = l
	return l, nil
}

// requirementArgs are pip's arguments naming what to install.
func (b *Builder) requirementArgs() []string {
	var args []string
	if b.proj.HasRequirement {
		args = append(args, "-r", Requirements)
	}
	return append(args, b.proj.Dependencies...)
}

// installDeps writes the dependencies for p (see installedDeps) as the
// dependencies layer: the install at DepsDir, its scripts at BinDir (where
// pip's RECORD, ../../bin/NAME from DepsDir, says they are). It returns
// the packages installed, for the SBOM.
func (b *Builder) installDeps(ctx context.Context, store blob.Store, p v1.Platform, version string, tags []string, opt layer.Options) (*layer.Layer, []runtime.Package, error) {
	dir, done, err := b.installedDeps(ctx, p, version, tags, b.pip)
	if err != nil {
		return nil, nil, err
	}
	defer done()
	pkgs, err := readPackages(dir)
	if err != nil {
		return nil, nil, err
	}
	t := layer.NewTree()
	err = t.AddHostDirFunc(dir, DepsDir, func(rel string, _ os.DirEntry) bool { return rel == "bin" || rel == packagesFile })
	if err != nil {
		return nil, nil, err
	}
	if fi, err := os.Stat(filepath.Join(dir, "bin")); err == nil && fi.IsDir() {
		if err := t.AddHostDir(filepath.Join(dir, "bin"), BinDir); err != nil {
			return nil, nil, err
		}
	}
	l, err := layer.Write(ctx, store, t, opt)
	return l, pkgs, err
}

func lastOfEach(env []string) []string {
	last := map[string]string{}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		last[k] = kv
	}
	out := make([]string, 0, len(last))
	for _, kv := range last {
		out = append(out, kv)
	}
	slices.Sort(out)
	return out
}
