package golang

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/kiln-build/kiln/internal/environ"
	"github.com/kiln-build/kiln/pkg/blob"
	"github.com/kiln-build/kiln/pkg/config"
	"github.com/kiln-build/kiln/pkg/hashcache"
	"github.com/kiln-build/kiln/pkg/layer"
	"github.com/kiln-build/kiln/pkg/platform"
	"github.com/kiln-build/kiln/pkg/runtime"
)

// BinDir is where binaries go in the image; it is added to PATH.
const BinDir = "/kiln/bin"

// Options are the go build settings for one program.
type Options struct {
	Flags    []string // extra go build flags, e.g. -tags=netgo
	Ldflags  []string // joined into one -ldflags argument
	BuildEnv []string // KEY=value added to the build environment
	Env      []string // the environment kiln runs in
	WorkDir  string   // where binaries are compiled to
	// Hashes remembers file hashes between runs; nil hashes every time.
	Hashes *hashcache.Cache
	// StateDir keeps the dependency listings of earlier runs, so an
	// unchanged program is fingerprinted without running go list; ""
	// keeps none.
	StateDir string
	// NoEarlyBuild keeps Fingerprint from starting go build before
	// Build asks for it.
	NoEarlyBuild bool
	// BlockDir keeps the compressed blocks of the last binary layer of
	// each program and platform (layer.Options.Reuse); "" keeps none.
	BlockDir string
}

// Builder compiles one main package, or a function with the main package
// kiln generates for it.
type Builder struct {
	pkg Package
	opt Options

	goEnvOnce sync.Once
	goEnv     goEnv
	goEnvErr  error

	wrapOnce sync.Once
	wrap     *wrapper // nil for a main package
	wrapErr  error

	mu       sync.Mutex
	compiles map[string]*compile // by platform
	// predicted counts the layers Build took as the look predicted them.
	predicted atomic.Int32

	// ctx is the first context a fingerprint or a compile was started
	// with (the plan's): the go commands run under it.
	ctx context.Context
}

// compile is a go build under way or done.
type compile struct {
	binary string // where go build writes the program
	// ready is closed when the binary is complete: when go build renames
	// it into place (watchInstall), or when go build ends, whichever
	// comes first. done is closed when go build has ended, with err.
	ready, done chan struct{}
	err         error
	// linked sends the path of the program the linker wrote, before the
	// go command stamps and renames it (nil when it cannot be watched).
	linked <-chan string
}

// New returns a builder for pkg.
func New(pkg Package, opt Options) *Builder {
	return &Builder{pkg: pkg, opt: opt}
}

// Name is the program's name.
func (b *Builder) Name() string { return b.pkg.Name() }

// env is the build environment for p. Later entries win, so kiln's
// settings override the inherited environment and the configured build env
// overrides both.
func (b *Builder) env(p v1.Platform) []string {
	env := append([]string(nil), b.opt.Env...)
	env = append(env, "CGO_ENABLED=0")
	env = append(env, platform.GoEnv(p)...)
	return append(env, b.opt.BuildEnv...)
}

// buildArgs are the go build arguments other than -o and the package.
func (b *Builder) buildArgs() []string {
	args := []string{"-trimpath", "-buildvcs=false"}
	args = append(args, b.opt.Flags...)
	if len(b.opt.Ldflags) > 0 {
		args = append(args, "-ldflags="+strings.Join(b.opt.Ldflags, " "))
	}
	return args
}

// startCompile starts go build for p unless it was started already, and
// returns the compile to wait for. Fingerprint starts it as soon as it
// knows the program changed, so the compiler runs while go list does.
func (b *Builder) startCompile(ctx context.Context, p v1.Platform) *compile {
	key := platform.String(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	// The compile runs under the first context it or a fingerprint was
	// started with (the plan's), not Build's: the go command may still
	// be ending once Build has returned (Contribution.Done).
	if b.ctx == nil {
		b.ctx = ctx
	}
	ctx = b.ctx
	if c, ok := b.compiles[key]; ok {
		return c
	}
	if b.compiles == nil {
		b.compiles = map[string]*compile{}
	}
	c := &compile{binary: b.binaryPath(p), ready: make(chan struct{}), done: make(chan struct{})}
	b.compiles[key] = c
	env := b.env(p)
	// The go command's temporary folder is one of kiln's, where the
	// linker's output can be watched for (unless GOTMPDIR is set: then it
	// is the user's).
	stopLinked := func() {}
	if tmp := c.binary + ".gotmp"; !gotmpSet(env) && os.Mkdir(tmp, 0o700) == nil {
		env = append(env, "GOTMPDIR="+tmp)
		c.linked, stopLinked = watchLinked(tmp)
	}
	// Watched before go build starts, or the rename could come first.
	installed, stop := watchInstall(filepath.Dir(c.binary), filepath.Base(c.binary))
	go func() {
		defer close(c.ready)
		select {
		case <-installed: // nil without a watch: never
		case <-c.done:
		}
	}()
	go func() {
		defer close(c.done)
		defer stop()
		defer stopLinked()
		c.err = b.compile(ctx, env, c.binary, platform.String(p))
	}()
	return c
}

// startEarly starts go build for p ahead of Build, unless told not to.
func (b *Builder) startEarly(ctx context.Context, p v1.Platform) {
	if !b.opt.NoEarlyBuild {
		b.startCompile(ctx, p)
	}
}

// binaryPath is where go build writes the program for p. Programs of the
// same name (cmd/a/server, cmd/b/server) share the work folder, so the
// import path's hash tells their binaries apart.
func (b *Builder) binaryPath(p v1.Platform) string {
	id := sha256.Sum256([]byte(b.pkg.ImportPath))
	return filepath.Join(b.opt.WorkDir, fmt.Sprintf("%s-%s-%x", b.Name(), strings.ReplaceAll(platform.String(p), "/", "-"), id[:4]))
}

// wrapper returns the generated main package of a function, or nil for a
// main package.
func (b *Builder) wrapper() (*wrapper, error) {
	if b.pkg.Kind != config.KindFunction {
		return nil, nil
	}
	b.wrapOnce.Do(func() {
		for _, f := range b.opt.Flags {
			if strings.HasPrefix(strings.TrimLeft(f, "-"), "overlay") {
				b.wrapErr = fmt.Errorf("flags: %s cannot be used with the function %s: kiln adds its generated main package with an -overlay of its own", f, b.pkg.ImportPath)
				return
			}
		}
		b.wrap, b.wrapErr = newWrapper(b.pkg, b.opt.WorkDir)
	})
	return b.wrap, b.wrapErr
}

// mainArgs are the go build or go list arguments that name the main
// package: the package itself, or a function's generated one with the
// overlay that places it in the function's module.
func (b *Builder) mainArgs() ([]string, error) {
	w, err := b.wrapper()
	if err != nil {
		return nil, err
	}
	if w == nil {
		return []string{"--", b.pkg.ImportPath}, nil
	}
	return []string{"-overlay", w.overlay, "--", w.importPath}, nil
}

// compile runs go build in env, writing the program to out. target names
// the platform in messages.
func (b *Builder) compile(ctx context.Context, env []string, out, target string) error {
	main, err := b.mainArgs()
	if err != nil {
		return err
	}
	args := append([]string{"build", "-o", out}, b.buildArgs()...)
	args = append(args, main...)
	cmd := goCommand(ctx, b.pkg.ModuleRoot, env, args...)
	runtime.LogCommand(ctx, cmd)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &CompileError{Package: b.pkg.ImportPath, Platform: target, Output: strings.TrimSpace(output.String()), Err: err}
	}
	return nil
}

// BuildHost compiles the program for the machine kiln runs on, to out,
// with the same flags as for images: for running it here (kiln run --host).
func (b *Builder) BuildHost(ctx context.Context, out string) error {
	env := append([]string(nil), b.opt.Env...)
	env = append(env, "CGO_ENABLED=0", "GOOS="+goruntime.GOOS, "GOARCH="+goruntime.GOARCH)
	env = append(env, b.opt.BuildEnv...)
	return b.compile(ctx, env, out, goruntime.GOOS+"/"+goruntime.GOARCH)
}

// Build compiles the package for p (or waits for the compile Fingerprint
// started) and writes the binary layer. It returns once the layer is
// written, which may be before the go command has ended: the
// contribution's Done says how it ended.
func (b *Builder) Build(ctx context.Context, store blob.Store, p v1.Platform, opt layer.Options) (*runtime.Contribution, error) {
	c := b.startCompile(ctx, p)
	// Once the linker is done, and while the go command stamps the
	// program with its build ID before it moves it into place, the
	// layer of the program as it will be stamped is written
	// (layer.Predict), and taken if the program in place is, byte for
	// byte, the predicted one; else it is written as soon as the program
	// is in place.
	var early *layer.Early
	defer func() {
		early.Settle()   // nothing more is written into store
		go early.Close() // unmapping takes a while; nothing waits for it
	}()
	// After an edit most of the binary is unchanged: its blocks are not
	// compressed again.
	opt.Reuse = b.keepDir(p)
	for linked := c.linked; ; {
		select {
		case path := <-linked:
			linked = nil
			if t, err := b.binaryTree(path); err == nil {
				early = layer.Predict(ctx, store, t, opt, stamp)
			} else {
				early = layer.Look(ctx, path, opt.Reuse)
			}
			continue
		case <-c.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		break
	}
	if ended(c.done) && c.err != nil {
		return nil, c.err // a failed compile, not a missing binary
	}
	opt.Early = early
	contrib, err := b.contribution(ctx, store, p, c.binary, opt)
	if err != nil {
		// The go command's own failure, if it failed, says more.
		select {
		case <-c.done:
			if c.err != nil {
				return nil, c.err
			}
		case <-ctx.Done():
		}
		return nil, err
	}
	if early.Predicted() {
		b.predicted.Add(1)
	}
	// The go command ends milliseconds after the program is in place
	// (it removes its work folder, and its memory is freed): the image
	// is made meanwhile, and kept only once it has ended well. The
	// binary stays: the build's work folder, which holds it, is removed
	// at the end (build.Build moves it into .kiln's trash, removed while
	// the next build compiles: freeing its pages takes milliseconds).
	contrib.Done = func() error {
		<-c.done
		return c.err
	}
	return contrib, nil
}

// ended reports whether ch is closed.
func ended(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// contribution writes the layer of the binary out, built for p, and
// says how the image runs it.
func (b *Builder) contribution(ctx context.Context, store blob.Store, p v1.Platform, out string, opt layer.Options) (*runtime.Contribution, error) {
	pkgs, err := Packages(out)
	if err != nil {
		return nil, err
	}
	inputs, err := runtime.Inputs(b.opt.Hashes.Sum, b.pkg.ModuleRoot, "go.mod", "go.sum")
	if err != nil {
		return nil, err
	}

	bin := b.inImage()
	t, err := b.binaryTree(out)
	if err != nil {
		return nil, err
	}
	opt.Reuse = b.keepDir(p)
	l, err := layer.Write(ctx, store, t, opt)
	if err != nil {
		return nil, err
	}
	built := b.pkg.ImportPath
	if b.wrap != nil {
		built = fmt.Sprintf("%s (function %s, in kiln's generated main package)", b.wrap.importPath, b.pkg.ImportPath)
	}
	return &runtime.Contribution{
		Layers: []mutate.Addendum{{
			Layer: l,
			History: runtime.History(opt,
				fmt.Sprintf("kiln: go build %s %s (%s)", strings.Join(b.buildArgs(), " "), built, strings.Join(platform.GoEnv(p), " ")),
				"go build output, at "+bin),
		}},
		Entrypoint: []string{bin},
		PathDir:    BinDir,
		Packages:   pkgs,
		Inputs:     inputs,
	}, nil
}

// inImage is where the program is in the image.
func (b *Builder) inImage() string { return path.Join(BinDir, b.Name()) }

// binaryTree is the tree of the binary layer, the program at out.
func (b *Builder) binaryTree(out string) (*layer.Tree, error) {
	t := layer.NewTree()
	return t, t.AddPrivateFile(b.inImage(), out, 0o755)
}

// gotmpSet reports whether env sets GOTMPDIR (to anything but "").
func gotmpSet(env []string) bool {
	v, _ := environ.Lookup(env, "GOTMPDIR")
	return v != ""
}

// keepDir is where the blocks of the binary layer for p are kept, or ""
// when they are not.
func (b *Builder) keepDir(p v1.Platform) string {
	if b.opt.BlockDir == "" {
		return ""
	}
	slot := sha256.Sum256([]byte(b.pkg.ImportPath + "\x00" + platform.String(p)))
	return filepath.Join(b.opt.BlockDir, fmt.Sprintf("%x", slot[:8]))
}

// CompileError is a failed go build; Output is what the compiler said.
type CompileError struct {
	Package, Platform, Output string
	Err                       error
}

func (e *CompileError) Error() string {
	return fmt.Sprintf("go build of %s for %s failed:\n%s\nfix the errors above and run kiln build again", e.Package, e.Platform, e.Output)
}

func (e *CompileError) Unwrap() error { return e.Err }

// unfingerprinted are Go variables that cannot change a build's output:
// where things are kept on this machine (the fingerprint must be the same
// on a fresh machine, for the registry cache), how modules are fetched,
// and settings of the go command's own process. GOROOT and GOTOOLCHAIN
// pick the toolchain, whose version (GOVERSION) is fingerprinted instead.
var unfingerprinted = []string{"GOBIN", "GOCACHE", "GOCACHEPROG", "GOMODCACHE", "GOPATH", "GOPROXY", "GONOPROXY", "GOPRIVATE", "GONOSUMDB", "GONOSUMCHECK", "GOSUMDB", "GOINSECURE", "GOAUTH", "GOVCS", "GOENV", "GOTMPDIR", "GOTELEMETRY", "GOTELEMETRYDIR", "GODEBUG", "GOROOT", "GOTOOLCHAIN", "GOCOVERDIR", "GOMAXPROCS", "GOGC", "GOMEMLIMIT", "GOTRACEBACK"}

// Fingerprint writes the inputs of a build for p: the Go version, the
// build environment and flags, go.mod, go.sum and go.work, and for every
// non-standard package it depends on, either the module version (for
// packages in the read-only module cache) or the content of its source and
// embedded files. For a function that includes the generated main package.
func (b *Builder) Fingerprint(ctx context.Context, w io.Writer, p v1.Platform) error {
	b.mu.Lock()
	if b.ctx == nil {
		b.ctx = ctx
	}
	b.mu.Unlock()
	ge, key, err := b.settings(ctx, w, p)
	if err != nil {
		return err
	}
	if rec, text, changed, ok := b.recorded(key); ok {
		if changed {
			// The program will most likely be built: start now.
			b.startEarly(ctx, p)
		}
		if rec.dirty {
			// New hashes, new times of unchanged directories: the next
			// build then knows at once that nothing changed.
			b.saveDeps(key, rec)
		}
		_, err = io.WriteString(w, text)
		return err
	}
	// Something changed that may change the dependencies: the compiler
	// starts now, while go list runs.
	b.startEarly(ctx, p)
	rec, err := b.listDeps(ctx, p, ge)
	if err != nil {
		return err
	}
	text, _, ok := rec.refresh(b.opt.Hashes, true)
	if !ok {
		return fmt.Errorf("the sources of %s changed while kiln read them; build again", b.pkg.ImportPath)
	}
	if _, changed, ok := rec.refresh(b.opt.Hashes, false); ok && !changed {
		b.saveDeps(key, rec)
	}
	_, err = io.WriteString(w, text)
	return err
}

// startIfChanged starts compiling for p unless the dependencies recorded
// at the last build say that no source changed since.
func (b *Builder) startIfChanged(ctx context.Context, p v1.Platform) {
	_, key, err := b.settings(ctx, io.Discard, p)
	if err != nil {
		return
	}
	if _, _, changed, ok := b.recorded(key); ok && !changed {
		return
	}
	b.startEarly(ctx, p)
}

// recorded is the dependency record kept for key, refreshed (see
// deps.refresh); ok is false when there is none or go list must run.
func (b *Builder) recorded(key [32]byte) (rec *deps, text string, changed, ok bool) {
	if rec = b.loadDeps(key); rec == nil {
		return nil, "", true, false
	}
	text, changed, ok = rec.refresh(b.opt.Hashes, false)
	return rec, text, changed, ok
}

// settings writes the part of p's fingerprint that is not the sources:
// the Go version, the build environment and flags, go.mod, go.sum and
// go.work; key names the dependency record kept for them.
func (b *Builder) settings(ctx context.Context, w io.Writer, p v1.Platform) (ge goEnv, key [32]byte, err error) {
	ge, err = b.readGoEnv(ctx)
	if err != nil {
		return ge, key, err
	}
	fmt.Fprintf(w, "go %s\nplatform %s\npackage %s\nargs %q\n", ge.GOVERSION, platform.String(p), b.pkg.ImportPath, b.buildArgs())
	var goVars []string
	for _, kv := range b.env(p) {
		k, _, _ := strings.Cut(kv, "=")
		if (strings.HasPrefix(k, "GO") || k == "CGO_ENABLED") && !slices.Contains(unfingerprinted, k) {
			goVars = append(goVars, kv)
		}
	}
	// Later entries win in the build, so keep the last of each key.
	fmt.Fprintf(w, "env %q\n", lastOfEach(goVars))
	// go.mod, go.sum and go.work decide the versions of dependencies.
	var modSums []string
	for _, f := range []string{filepath.Join(b.pkg.ModuleRoot, "go.mod"), filepath.Join(b.pkg.ModuleRoot, "go.sum"), ge.GOWORK} {
		if f == "" || f == "off" {
			continue
		}
		sum, err := b.opt.Hashes.Sum(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			return ge, key, err
		}
		fmt.Fprintf(w, "file %s %s\n", filepath.Base(f), sum)
		modSums = append(modSums, sum)
	}

	w2, err := b.wrapper()
	if err != nil {
		return ge, key, err
	}
	var wrapSum [32]byte
	if w2 != nil {
		wrapSum = sha256.Sum256(w2.source)
		fmt.Fprintf(w, "function %s wrapper %x\n", b.pkg.ImportPath, wrapSum)
	}
	// The record names files by their paths: one kept for a copy of the
	// project elsewhere (a restored cache, a moved folder) would list the
	// original's, so the module's folder is part of its key (but not of
	// the fingerprint, which is the same wherever the project is).
	key = sha256.Sum256([]byte(fmt.Sprint(ge.GOVERSION, platform.String(p), b.pkg.ImportPath, b.pkg.ModuleRoot, b.buildArgs(), lastOfEach(goVars), modSums, wrapSum)))
	return ge, key, nil
}

// goCommand runs go in dir. PWD is set to dir so that go sees the
// directory by the path kiln uses, symbolic links included: the paths in a
// function's overlay file must match go's idea of the module root. Its
// garbage collector is tuned (GCEnv).
func goCommand(ctx context.Context, dir string, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	env = append(append([]string(nil), env...), GCEnv(env)...)
	cmd.Env = append(env, "PWD="+dir)
	return cmd
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
