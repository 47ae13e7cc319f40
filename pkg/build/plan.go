package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/pkg/base"
	"github.com/kiln-build/kiln/pkg/config"
	"github.com/kiln-build/kiln/pkg/hashcache"
	"github.com/kiln-build/kiln/pkg/image"
	"github.com/kiln-build/kiln/pkg/layer"
	"github.com/kiln-build/kiln/pkg/platform"
	"github.com/kiln-build/kiln/pkg/project"
	"github.com/kiln-build/kiln/pkg/runtime"
	"github.com/kiln-build/kiln/pkg/runtime/golang"
)

// OCI label keys kiln sets.
const (
	LabelCreated  = "org.opencontainers.image.created"
	LabelRevision = "org.opencontainers.image.revision"
	LabelSource   = "org.opencontainers.image.source"
)

// plan is everything a build needs to know, resolved before any work.
type plan struct {
	project   *project.Project
	platforms []v1.Platform
	targets   []*target
	base      *base.Base // nil for images from scratch
	resolver  *base.Resolver
	release   func() // releases the base cache's lock
	// hashes remembers file hashes in .kiln between runs.
	hashes      *hashcache.Cache
	compression layer.Compression
}

func (pl *plan) close() {
	if pl.release != nil {
		pl.release()
	}
	pl.hashes.Save()
}

// target is one program and the image settings that apply to it.
type target struct {
	pkg     string // import path
	kind    golang.Kind
	name    string // image name
	builder runtime.Builder
	env     []string // image environment, without runtime additions
	labels  map[string]string
	ports   []string
	user    string      // "" when not configured
	data    *layer.Tree // nil when the program has no data directories
	dataDoc []string    // "SRC -> DEST", for the history entry
	kodata  string      // the kodata/ directory on the host, "" if none
}

func makePlan(ctx context.Context, opt *Options, workDir string) (*plan, error) {
	if root, ok, err := pythonRoot(opt); err != nil {
		return nil, err
	} else if ok {
		return makePythonPlan(ctx, opt, workDir, root)
	}
	pkgs, err := golang.Resolve(ctx, opt.Dir, opt.Targets, opt.Env)
	if err != nil {
		return nil, err
	}
	if opt.OneProgram && len(pkgs) > 1 {
		var names []string
		for _, p := range pkgs {
			names = append(names, p.ImportPath)
		}
		return nil, fmt.Errorf("%s names %d programs (%s); name one of them", strings.Join(opt.Targets, " "), len(pkgs), strings.Join(names, ", "))
	}
	root := pkgs[0].ModuleRoot
	for _, p := range pkgs[1:] {
		if p.ModuleRoot != root {
			return nil, fmt.Errorf("%s and %s are in different modules (%s, %s); run kiln build once per module", pkgs[0].ImportPath, p.ImportPath, root, p.ModuleRoot)
		}
	}
	proj, err := project.Load(ctx, root, opt.Env)
	if err != nil {
		return nil, err
	}
	cfg := proj.Config
	baseRef := opt.Base
	if baseRef == "" {
		baseRef = cfg.Base
	}
	pln, err := newPlan(ctx, opt, proj, baseRef)
	if err != nil {
		return nil, err
	}
	data := proj.TemplateData()
	names := map[string]string{}
	for _, pkg := range pkgs {
		rel := proj.RelDir(pkg.Dir)
		s := cfg.For(rel)
		t, err := newTarget(proj, pkg, s, data, workDir, pln)
		if err != nil {
			pln.close()
			where := cfg.Path
			if where == "" {
				where = pkg.ImportPath
			}
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if other, ok := names[t.name]; ok {
			pln.close()
			return nil, fmt.Errorf("%s and %s would both be image %q; give each a name under targets in %s", other, pkg.ImportPath, t.name, config.FileName)
		}
		names[t.name] = pkg.ImportPath
		pln.targets = append(pln.targets, t)
	}
	return pln, nil
}

// newPlan settles the platforms and resolves the base image (baseRef, ""
// for none) of a plan for proj.
func newPlan(ctx context.Context, opt *Options, proj *project.Project, baseRef string) (*plan, error) {
	cfg := proj.Config
	platforms := opt.Platforms
	if platforms == "" {
		platforms = cfg.PlatformList()
	}
	all := platforms == "all"
	var err error
	pl := []v1.Platform{platform.Host()}
	switch {
	case all && baseRef == "":
		return nil, fmt.Errorf("--platform all means every platform of the base image, and there is none: set --base or base: in %s", config.FileName)
	case platforms != "" && !all:
		if pl, err = platform.Parse(platforms); err != nil {
			if cfg.Path != "" && opt.Platforms == "" {
				return nil, fmt.Errorf("%s: platforms: %w", cfg.Path, err)
			}
			return nil, err
		}
	}

	compression, err := layer.ParseCompression(opt.Compression)
	if err != nil {
		return nil, err
	}
	pln := &plan{project: proj, platforms: pl, compression: compression, hashes: hashcache.Open(filepath.Join(proj.StatePath(), "hashes.json"))}
	if baseRef != "" {
		if all {
			pl = nil
		}
		if err := pln.resolveBase(ctx, opt, baseRef, pl, platforms != ""); err != nil {
			pln.close()
			return nil, err
		}
	}
	return pln, nil
}

// resolveBase resolves the base image for the platforms (nil: all of the
// base's). A single-image base serves only its own platform: without
// platforms asked for explicitly, kiln builds for that one.
func (pl *plan) resolveBase(ctx context.Context, opt *Options, ref string, platforms []v1.Platform, explicit bool) error {
	cache := opt.Cache
	if cache.Dir == "" {
		var err error
		if cache, err = base.DefaultCache(); err != nil {
			return err
		}
	}
	release, err := cache.Lock(ctx, false)
	if err != nil {
		return fmt.Errorf("base image cache %s: %w", cache.Dir, err)
	}
	pl.release = release
	pl.resolver = &base.Resolver{Cache: cache, Registry: opt.Registry}
	step := opt.Progress.Start("resolving base "+ref, 0)
	b, err := pl.resolver.Resolve(ctx, ref, platforms)
	var single *base.SingleImageError
	if errors.As(err, &single) && !explicit {
		opt.Progress.Logf("base %s is only for %s; building for it", ref, platform.String(single.Platform))
		b, err = pl.resolver.Resolve(ctx, ref, []v1.Platform{single.Platform})
	}
	step.Done(err)
	if err != nil {
		return err
	}
	pl.base = b
	pl.platforms = nil
	for _, img := range b.Images {
		pl.platforms = append(pl.platforms, img.Platform)
	}
	return nil
}

func newTarget(proj *project.Project, pkg golang.Package, s config.Settings, data *config.TemplateData, workDir string, pl *plan) (*target, error) {
	if err := checkKind(pkg, s.Kind); err != nil {
		return nil, err
	}
	hasBase := pl.base != nil
	t := &target{pkg: pkg.ImportPath, kind: pkg.Kind, name: pkg.Name()}
	var err error
	if s.Name != "" {
		if t.name, err = config.Expand("name", s.Name, data); err != nil {
			return nil, err
		}
	}
	if _, err := name.NewRepository(t.name); err != nil {
		return nil, fmt.Errorf("name %q is not a valid image name: use lowercase letters, digits, '.', '-', '_' and '/'", t.name)
	}
	var gopt golang.Options
	if gopt.Flags, err = config.ExpandAll("flags", s.Flags, data); err != nil {
		return nil, err
	}
	if gopt.Ldflags, err = config.ExpandAll("ldflags", s.Ldflags, data); err != nil {
		return nil, err
	}
	if gopt.BuildEnv, err = config.ExpandMap("buildEnv", s.BuildEnv, data); err != nil {
		return nil, err
	}
	gopt.Env, gopt.WorkDir = proj.Env, workDir
	gopt.Hashes, gopt.StateDir = pl.hashes, filepath.Join(proj.StatePath(), "deps")
	t.builder = golang.New(pkg, gopt)

	if t.env, err = config.ExpandMap("env", s.Env, data); err != nil {
		return nil, err
	}
	userLabels, err := config.ExpandMap("labels", s.Labels, data)
	if err != nil {
		return nil, err
	}
	t.labels = map[string]string{LabelCreated: proj.Source.Date.Format("2006-01-02T15:04:05Z07:00")}
	if proj.Source.Commit != "" {
		t.labels[LabelRevision] = proj.Source.Commit
	}
	if proj.Source.Remote != "" {
		t.labels[LabelSource] = proj.Source.Remote
	}
	for _, kv := range userLabels {
		k, v, _ := strings.Cut(kv, "=")
		t.labels[k] = v
	}
	for _, p := range s.Ports {
		if !strings.Contains(p, "/") {
			p += "/tcp"
		}
		t.ports = append(t.ports, p)
	}
	if s.User != "" {
		if t.user, err = config.ParseUser(s.User, hasBase); err != nil {
			return nil, err
		}
	}
	return t, t.addData(proj, pkg, s)
}

// checkKind holds the package to the kind kiln.yaml declares, if any.
func checkKind(pkg golang.Package, kind string) error {
	switch {
	case kind == config.KindFunction && pkg.Kind != golang.KindFunction:
		return fmt.Errorf("kind: function, but %s is package main, a program; remove kind, or set kind: app\n%s", pkg.ImportPath, golang.Signatures)
	case kind == config.KindApp && pkg.Kind != golang.KindApp:
		return fmt.Errorf("kind: app, but %s is not package main: it is a function, which kiln serves with a main package of its own; set kind: function, or make it package main with a func main()", pkg.ImportPath)
	}
	return nil
}

// addData collects the program's data directories: kodata/ beside the
// main package (unless turned off) and those configured.
func (t *target) addData(proj *project.Project, pkg golang.Package, s config.Settings) error {
	var dirs []config.DataDir
	if s.Kodata == nil || *s.Kodata {
		kodata := filepath.Join(pkg.Dir, "kodata")
		if fi, err := os.Stat(kodata); err == nil && fi.IsDir() {
			dirs = append(dirs, config.DataDir{Src: kodata, Dest: config.DataPath})
			t.kodata = kodata
		}
	}
	for _, d := range s.Data {
		dd, err := config.ParseData(d)
		if err != nil {
			return err
		}
		if !filepath.IsAbs(dd.Src) {
			dd.Src = filepath.Join(proj.Root, dd.Src)
		}
		fi, err := os.Stat(dd.Src)
		if err != nil || !fi.IsDir() {
			return fmt.Errorf("data: %s is not a directory; create it or fix the path (relative paths start at %s)", dd.Src, proj.Root)
		}
		dirs = append(dirs, dd)
	}
	if len(dirs) == 0 {
		return nil
	}
	t.data = layer.NewTree()
	for _, d := range dirs {
		if err := t.data.AddHostDir(d.Src, d.Dest); err != nil {
			return err
		}
		t.dataDoc = append(t.dataDoc, proj.RelDir(d.Src)+" -> "+d.Dest)
	}
	return nil
}

// imageEnv is the image's environment: the base's, PATH (the base's or the
// configured one) with the program's directory, the data path variables,
// then the configured variables.
func (t *target) imageEnv(baseEnv []string, pathDir string) []string {
	env := slices.Clone(baseEnv)
	for _, kv := range t.env {
		if strings.HasPrefix(kv, "PATH=") {
			env = image.SetEnv(env, kv)
		}
	}
	env = image.AppendPath(env, pathDir)
	env = append(env, "KILN_DATA_PATH="+config.DataPath, "KO_DATA_PATH="+config.DataPath)
	for _, kv := range t.env {
		if !strings.HasPrefix(kv, "PATH=") {
			env = image.SetEnv(env, kv)
		}
	}
	return env
}
