// Package plan settles what a build will do before it does any of it: the
// runtime and targets the arguments name, the project and its kiln.yaml
// settings for each target, the platforms, and the base image, resolved
// for every platform. Errors in any of these come out here, before any
// compiling.
package plan

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/pkg/base"
	"github.com/kiln-build/kiln/pkg/config"
	"github.com/kiln-build/kiln/pkg/platform"
	"github.com/kiln-build/kiln/pkg/progress"
	"github.com/kiln-build/kiln/pkg/project"
	"github.com/kiln-build/kiln/pkg/registry"
	"github.com/kiln-build/kiln/pkg/runtime"
	"github.com/kiln-build/kiln/pkg/runtime/all"
)

// OCI label keys kiln sets.
const (
	LabelCreated  = "org.opencontainers.image.created"
	LabelRevision = "org.opencontainers.image.revision"
	LabelSource   = "org.opencontainers.image.source"
)

// DataPath is where data directories land in the image; KO_DATA_PATH and
// KILN_DATA_PATH point at it.
const DataPath = config.DataPath

// ErrAllWithoutBase says that every platform of the base was asked for,
// with no base.
var ErrAllWithoutBase = errors.New("all platforms means every platform of the base image, and there is none: set a base image")

// Options say what to plan.
type Options struct {
	// Dir is where arguments are resolved from; "" means the current
	// directory.
	Dir string
	// Targets name what to build, as the runtime understands them
	// (directories, import paths, patterns); none means ".".
	Targets []string
	// Platforms to build for; none means kiln.yaml's, else the host's
	// (or, on a single-platform base, the base's).
	Platforms []v1.Platform
	// AllPlatforms builds for every platform of the base image.
	AllPlatforms bool
	// Base is the base image reference; "" means kiln.yaml's, else the
	// runtime's default (none for Go).
	Base string
	// Registry says how to reach the base's registry.
	Registry registry.Options
	// Cache is the base image cache; zero means base.DefaultCache().
	Cache base.Cache
	// Env is the environment kiln runs in; nil means the process's.
	Env []string
	// Progress is told about long steps; nil shows nothing.
	Progress progress.Reporter
	// OneProgram makes it an error for Targets to name more than one
	// program.
	OneProgram bool
	// Runtimes are the runtimes to choose from; nil means all of kiln's.
	Runtimes []runtime.Runtime
	// WorkDir is where targets keep temporary files; the caller removes it.
	WorkDir string
	// Read are the files an earlier plan of the same build read (its
	// file-hash cache's Read): when the work tree's uncommitted changes
	// touch none of them, the source date is HEAD's commit time (see
	// project.Source.AtCommit).
	Read []string
	// NoEarlyBuild keeps targets from building while they are
	// fingerprinted (runtime.Config.NoEarlyBuild).
	NoEarlyBuild bool
}

// Plan is a build, settled.
type Plan struct {
	Project *project.Project
	Runtime runtime.Runtime
	// Resolver fetches the bases' layers; each target has its own base
	// and platforms (Target.Base, Target.Platforms), as kiln.yaml may give
	// each its base.
	Resolver *base.Resolver
	Targets  []*Target
	// Progress is told about long steps (never nil).
	Progress progress.Reporter
	release  func()
}

// Target is a runtime's target with the image settings kiln.yaml gives it.
type Target struct {
	runtime.Target
	// ImageName is the image's name (the target's Name unless kiln.yaml
	// sets one).
	ImageName string
	// Env is the configured environment, KEY=value in key order.
	Env    []string
	Labels map[string]string
	Ports  []string // "8080/tcp"
	// User is the configured user, "" when none is configured.
	User string
	Data *project.Data
	// Base is the target's base image, nil for none; Platforms are the
	// platforms it is built for, in the order of Base.Images.
	Base      *base.Base
	Platforms []v1.Platform
	// baseRef is the base asked for, "" for none.
	baseRef string
}

// Close releases the base image cache, which the plan holds shared so
// that no prune removes a blob the build is about to use.
func (p *Plan) Close() {
	if p.release != nil {
		p.release()
		p.release = nil
	}
}

func (opt *Options) setDefaults() error {
	// "" is the current directory.
	abs, err := filepath.Abs(opt.Dir)
	if err != nil {
		return err
	}
	opt.Dir = abs
	if opt.Env == nil {
		opt.Env = os.Environ()
	}
	if opt.Progress == nil {
		opt.Progress = progress.Discard
	}
	if opt.Runtimes == nil {
		opt.Runtimes = all.Runtimes()
	}
	if opt.WorkDir == "" {
		return errors.New("plan: Options.WorkDir is not set")
	}
	return nil
}

// New settles the build opt asks for. Close the plan when done with it.
func New(ctx context.Context, opt Options) (_ *Plan, err error) {
	if err := opt.setDefaults(); err != nil {
		return nil, err
	}
	rt, err := chooseRuntime(opt)
	if err != nil {
		return nil, err
	}
	res, err := rt.Resolve(ctx, runtime.Request{Dir: opt.Dir, Args: opt.Targets, Env: opt.Env})
	if err != nil {
		return nil, err
	}
	if opt.OneProgram && len(res.Targets) > 1 {
		var ids []string
		for _, t := range res.Targets {
			ids = append(ids, t.ID())
		}
		return nil, fmt.Errorf("%s names %d programs (%s); name one of them", strings.Join(opt.Targets, " "), len(ids), strings.Join(ids, ", "))
	}
	proj, err := project.Load(ctx, res.Root, opt.Env)
	if err != nil {
		return nil, err
	}
	if opt.Read != nil {
		proj.Source, _ = proj.Source.AtCommit(proj.Root, opt.Read)
	}
	cfg := proj.Config
	if cfg.Runtime != "" && cfg.Runtime != rt.Name() {
		return nil, fmt.Errorf("%s says runtime: %s, but %s is a %s project; build its %s programs from its own directory, or correct runtime:", cfg.RuntimeSource(), cfg.Runtime, strings.Join(argsOrDot(opt.Targets), " "), rt.Name(), cfg.Runtime)
	}
	if err := cfg.CheckKeys(rt.Name(), rt.Keys()); err != nil {
		return nil, err
	}
	reportFunc(cfg.Func, rt, opt.Progress)
	for _, k := range slices.Sorted(maps.Keys(cfg.Targets)) {
		if fi, err := os.Stat(filepath.Join(proj.Root, filepath.FromSlash(k))); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("%s: targets: %s is not a directory under %s; targets: keys are program directories relative to it, e.g. cmd/api", cfg.Path, k, proj.Root)
		}
	}
	pl := &Plan{Project: proj, Runtime: rt, Progress: opt.Progress}
	defer func() {
		if err != nil {
			pl.Close()
		}
	}()
	data := proj.TemplateData()
	settings := make([]config.Settings, len(res.Targets))
	names := map[string]string{}
	for i, rt := range res.Targets {
		if settings[i], err = expand(cfg.For(proj.RelDir(rt.Dir())), data); err != nil {
			return nil, pl.where(rt, err)
		}
		t, err := newTarget(proj, rt, settings[i])
		if err != nil {
			return nil, pl.where(rt, err)
		}
		if other, ok := names[t.ImageName]; ok {
			return nil, fmt.Errorf("%s and %s would both be image %q; give each a name under targets in %s", other, rt.ID(), t.ImageName, config.FileName)
		}
		names[t.ImageName] = rt.ID()
		pl.Targets = append(pl.Targets, t)
	}
	if err := pl.baseRefs(opt, settings); err != nil {
		return nil, err
	}
	if err := pl.settlePlatforms(ctx, opt, settings); err != nil {
		return nil, err
	}
	for i, t := range pl.Targets {
		var bases []v1.Image
		var fetchBase func(context.Context, int) error
		if b := t.Base; b != nil {
			for _, img := range b.Images {
				bases = append(bases, img.Image)
			}
			fetchBase = func(ctx context.Context, i int) error {
				img := b.Images[i]
				step := opt.Progress.Start("fetching base layers for "+img.Platform.String(), pl.Resolver.Missing(img))
				err := pl.Resolver.Fetch(ctx, img, step.Add)
				step.Done(err)
				return err
			}
		}
		if t.User != "" {
			if t.User, err = config.ParseUser(t.User, t.Base != nil); err != nil {
				return nil, pl.where(t, err)
			}
		}
		step := opt.Progress.Start("preparing "+t.ImageName, 0)
		err := t.Configure(ctx, runtime.Config{
			Project:   proj,
			Settings:  settings[i],
			Bases:     bases,
			BaseRef:   t.baseRef,
			FetchBase: fetchBase,
			Platforms: t.Platforms,
			WorkDir:   opt.WorkDir,
			Hashes:    proj.Hashes,
			// A build that may come from the registry cache starts no
			// compile early.
			NoEarlyBuild: opt.NoEarlyBuild,
		})
		step.Done(err)
		if err != nil {
			return nil, pl.where(t, err)
		}
	}
	return pl, nil
}

func argsOrDot(args []string) []string {
	if len(args) == 0 {
		return []string{"."}
	}
	return args
}

// where prefixes an error about target t with where its settings are:
// kiln.yaml, or the target itself when there is no kiln.yaml.
func (p *Plan) where(t interface{ ID() string }, err error) error {
	w := p.Project.Config.Path
	if w == "" {
		w = t.ID()
	}
	return fmt.Errorf("%s: %w", w, err)
}

// chooseRuntime picks the runtime of the arguments: for a directory, the
// runtime its kiln.yaml names, else the first that detects it as its own;
// for an import path or pattern, the runtime of the current directory.
// All arguments must have the same runtime.
func chooseRuntime(opt Options) (runtime.Runtime, error) {
	var chosen runtime.Runtime
	var first string
	for _, arg := range argsOrDot(opt.Targets) {
		dir := arg
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(opt.Dir, arg)
		}
		if fi, err := os.Stat(dir); strings.Contains(arg, "...") || err != nil || !fi.IsDir() {
			dir = opt.Dir
		}
		rt, err := runtimeOf(dir, opt.Runtimes)
		if err != nil {
			return nil, err
		}
		switch {
		case chosen == nil:
			chosen, first = rt, arg
		case rt.Name() != chosen.Name():
			return nil, fmt.Errorf("%s is a %s project and %s a %s one: build each on its own", first, chosen.Name(), arg, rt.Name())
		}
	}
	return chosen, nil
}

func runtimeOf(dir string, runtimes []runtime.Runtime) (runtime.Runtime, error) {
	cfg, err := config.Load(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, rt := range runtimes {
		names = append(names, rt.Name())
		if cfg.Runtime == rt.Name() {
			return rt, nil
		}
	}
	if cfg.Runtime != "" {
		return nil, fmt.Errorf("%s: runtime: %q is not a runtime kiln has; write %s", cfg.RuntimeSource(), cfg.Runtime, strings.Join(names, " or "))
	}
	for _, rt := range runtimes {
		ok, err := rt.Detect(dir)
		if err != nil {
			return nil, err
		}
		if ok {
			return rt, nil
		}
	}
	return nil, fmt.Errorf("%s holds no project kiln knows how to build (%s)", dir, strings.Join(names, ", "))
}

// newTarget applies settings s to the runtime's target rt.
func newTarget(proj *project.Project, rt runtime.Target, s config.Settings) (*Target, error) {
	// Image names are lower case; a program's may not be (ko lowercases
	// them too).
	t := &Target{Target: rt, ImageName: strings.ToLower(rt.Name()), User: s.User}
	if s.Name != "" {
		t.ImageName = s.Name
	}
	if err := config.ValidateName(t.ImageName); err != nil {
		return nil, err
	}
	for _, k := range config.SortedKeys(s.Env) {
		t.Env = append(t.Env, k+"="+s.Env[k])
	}
	t.Labels = map[string]string{LabelCreated: proj.Source.Date.Format("2006-01-02T15:04:05Z07:00")}
	if proj.Source.Commit != "" {
		t.Labels[LabelRevision] = proj.Source.Commit
	}
	if proj.Source.Remote != "" {
		t.Labels[LabelSource] = proj.Source.Remote
	}
	for k, v := range s.Labels {
		t.Labels[k] = v
	}
	for _, p := range s.Ports {
		if !strings.Contains(p, "/") {
			p += "/tcp"
		}
		t.Ports = append(t.Ports, p)
	}
	var err error
	t.Data, err = proj.Data(rt.Dir(), s)
	return t, err
}

// expand runs the templates in s's values.
func expand(s config.Settings, data *config.TemplateData) (config.Settings, error) {
	var err error
	if s.Name, err = config.Expand("name", s.Name, data); err != nil {
		return s, err
	}
	if s.Flags, err = config.ExpandAll("flags", s.Flags, data); err != nil {
		return s, err
	}
	if s.Ldflags, err = config.ExpandAll("ldflags", s.Ldflags, data); err != nil {
		return s, err
	}
	for _, m := range []struct {
		field string
		v     *map[string]string
	}{{"env", &s.Env}, {"buildEnv", &s.BuildEnv}, {"labels", &s.Labels}} {
		out := make(map[string]string, len(*m.v))
		for k, v := range *m.v {
			if out[k], err = config.Expand(m.field+"."+k, v, data); err != nil {
				return s, err
			}
		}
		*m.v = out
	}
	return s, nil
}

// baseRefs settles the base of each target: asked for (--base, for all),
// configured (the target's base:, else the top level's), or the runtime's
// default.
func (p *Plan) baseRefs(opt Options, settings []config.Settings) error {
	defaults := map[string]bool{}
	for i, t := range p.Targets {
		t.baseRef = cmp.Or(opt.Base, settings[i].Base)
		if t.baseRef != "" {
			continue
		}
		d, err := t.DefaultBase()
		if err != nil {
			return p.where(t, err)
		}
		t.baseRef = d
		if d != "" && !defaults[d] {
			defaults[d] = true
			opt.Progress.Logf("no base image set; using %s (set base: in %s to change it)", d, config.FileName)
		}
	}
	return nil
}

// settlePlatforms decides the platforms and resolves each distinct base
// for them: every target on a base is built for the platforms its base
// has of those asked for. Targets that can start before their base is
// known start first (startEarly).
func (p *Plan) settlePlatforms(ctx context.Context, opt Options, settings []config.Settings) error {
	platforms, all, explicit, err := p.askedPlatforms(opt)
	if err != nil {
		return err
	}
	if !all {
		p.startEarly(ctx, opt, settings, platforms)
	}
	bases := map[string]*base.Base{}
	for _, t := range p.Targets {
		ref := t.baseRef
		if ref == "" {
			if all {
				return ErrAllWithoutBase
			}
			t.Platforms = platforms
			continue
		}
		b, ok := bases[ref]
		if !ok {
			var err error
			if b, err = p.resolveBase(ctx, opt, ref, platforms, all, explicit); err != nil {
				return err
			}
			bases[ref] = b
		}
		t.Base = b
		t.Platforms = nil
		for _, img := range b.Images {
			t.Platforms = append(t.Platforms, img.Platform)
		}
	}
	return nil
}

// askedPlatforms are the platforms asked for (--platform, else kiln.yaml's
// platforms:, else this machine's); all says every platform of the base,
// explicit that they were asked for rather than defaulted.
func (p *Plan) askedPlatforms(opt Options) (platforms []v1.Platform, all, explicit bool, err error) {
	cfg := p.Project.Config
	all = opt.AllPlatforms
	explicit = len(opt.Platforms) > 0 || all
	platforms = opt.Platforms
	if !explicit && len(cfg.Platforms) > 0 {
		explicit = true
		if slices.Equal(cfg.Platforms, []string{"all"}) {
			all = true
		} else {
			ps, err := platform.Parse(cfg.PlatformList())
			if err != nil {
				return nil, false, false, fmt.Errorf("%s: platforms: %w", cfg.Path, err)
			}
			platforms = ps
		}
	}
	if len(platforms) == 0 && !all {
		platforms = []v1.Platform{platform.Host()}
	}
	return platforms, all, explicit, nil
}

// startEarly lets the targets on a base that can start building before
// it is looked up (runtime.EarlyStarter) start, for the platforms asked
// for: the base's lookup is a registry round trip, or more.
func (p *Plan) startEarly(ctx context.Context, opt Options, settings []config.Settings, platforms []v1.Platform) {
	if opt.NoEarlyBuild {
		return
	}
	for i, t := range p.Targets {
		if s, ok := t.Target.(runtime.EarlyStarter); ok && t.baseRef != "" {
			s.StartEarly(ctx, runtime.Config{
				Project:   p.Project,
				Settings:  settings[i],
				BaseRef:   t.baseRef,
				Platforms: platforms,
				WorkDir:   opt.WorkDir,
				Hashes:    p.Project.Hashes,
			})
		}
	}
}

// resolveBase resolves the base ref for the platforms asked for (all of
// its own with all); on a single-platform base with no platform asked
// for, for the base's platform.
func (p *Plan) resolveBase(ctx context.Context, opt Options, ref string, platforms []v1.Platform, all, explicit bool) (*base.Base, error) {
	if p.Resolver == nil {
		cache := opt.Cache
		if cache.Dir == "" {
			var err error
			if cache, err = base.DefaultCache(); err != nil {
				return nil, err
			}
		}
		release, err := cache.Lock(ctx, false)
		if err != nil {
			return nil, fmt.Errorf("base image cache %s: %w", cache.Dir, err)
		}
		p.release = release
		p.Resolver = &base.Resolver{Cache: cache, Registry: opt.Registry, Logf: opt.Progress.Logf}
	}
	want := platforms
	if all {
		want = nil
	}
	step := opt.Progress.Start("resolving base "+ref, 0)
	b, err := p.Resolver.Resolve(ctx, ref, want)
	var single *base.SingleImageError
	if errors.As(err, &single) && !explicit {
		opt.Progress.Logf("base %s is only for %s; building for it", ref, platform.String(single.Platform))
		b, err = p.Resolver.Resolve(ctx, ref, []v1.Platform{single.Platform})
	}
	step.Done(err)
	return b, err
}

// ImageUser is the user the image runs as: the configured one, else the
// base's (base is its config; nil for an empty base, whose default is the
// non-root user kiln's system layer defines).
func (t *Target) ImageUser(base *v1.Config) string {
	switch {
	case t.User != "":
		return t.User
	case base != nil:
		return base.User
	}
	return config.DefaultUser
}
