package python

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/pkg/platform"
	"github.com/kiln-build/kiln/pkg/runtime"
)

// depCacheKeep is how many dependency installs the cache keeps.
const depCacheKeep = 8

// depCache keeps the tidied dependency installs of earlier builds in the
// project's .kiln, one folder per key, so that a build whose code changed
// and whose dependencies did not writes its dependency layer from the
// folder without running pip. (The layer itself is written anew: its
// files carry the build's source date.)
type depCache struct {
	dir string // "" keeps nothing
}

// get returns the folder recorded under key, if there is one.
func (c depCache) get(key string) (string, bool) {
	if c.dir == "" {
		return "", false
	}
	d := filepath.Join(c.dir, key)
	if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
		return "", false
	}
	now := time.Now()
	os.Chtimes(d, now, now) // most recently used
	return d, true
}

// stage returns a new folder to install into, in the cache when there is
// one (so that keeping it is a rename), else in workDir.
func (c depCache) stage(workDir string) (string, error) {
	if c.dir != "" {
		if err := os.MkdirAll(c.dir, 0o755); err == nil {
			if d, err := os.MkdirTemp(c.dir, ".tmp-"); err == nil {
				return d, nil
			}
		}
	}
	return os.MkdirTemp(workDir, "pip-")
}

// put keeps the install in stage under key, and the depCacheKeep most
// recent others. It reports false when stage was not kept (the caller
// removes it after use).
func (c depCache) put(key, stage string) (string, bool) {
	if c.dir == "" || filepath.Dir(stage) != c.dir {
		return stage, false
	}
	final := filepath.Join(c.dir, key)
	os.RemoveAll(final)
	if os.Rename(stage, final) != nil {
		return stage, false
	}
	c.prune()
	return final, true
}

// prune removes all but the newest depCacheKeep installs, and what killed
// builds left half-installed.
func (c depCache) prune() {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return
	}
	type rec struct {
		name string
		mod  time.Time
	}
	var recs []rec
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > time.Hour {
				os.RemoveAll(filepath.Join(c.dir, e.Name()))
			}
			continue
		}
		if fi, err := e.Info(); err == nil && e.IsDir() {
			recs = append(recs, rec{e.Name(), fi.ModTime()})
		}
	}
	slices.SortFunc(recs, func(a, b rec) int { return b.mod.Compare(a.mod) })
	for i := depCacheKeep; i < len(recs); i++ {
		os.RemoveAll(filepath.Join(c.dir, recs[i].name))
	}
}

// depKey is the cache key of the dependency install for p: everything
// that decides what pip installs. ok is false when a requirement names
// local files (-r, -c, -e, paths, file: URLs), which kiln does not
// follow: such a project's dependencies are installed anew by every build.
func (b *Builder) depKey(p v1.Platform, version string, tags []string) (key string, ok bool, err error) {
	h := sha256.New()
	fmt.Fprintf(h, "kiln python deps 2 (with packages)\nplatform %s\npython %s\ntags %q\nlibc %s\n", platform.String(p), version, tags, b.opt.Libc)
	fmt.Fprintf(h, "host python %s pip %s\npip config %q\npip env %q\n", b.host.Python, b.host.Pip, b.host.PipConfig, b.pipEnv())
	b.findLinksListing(h)
	reqs := slices.Clone(b.proj.Dependencies)
	if b.proj.HasRequirement {
		data, err := os.ReadFile(filepath.Join(b.proj.Dir, Requirements))
		if err != nil {
			return "", false, err
		}
		reqs = append(reqs, strings.Split(string(data), "\n")...)
	}
	for _, r := range reqs {
		r = strings.TrimSpace(r)
		if r == "" || strings.HasPrefix(r, "#") {
			continue
		}
		if localRequirement(r) {
			return "", false, nil
		}
		fmt.Fprintf(h, "requirement %q\n", r)
	}
	return hex.EncodeToString(h.Sum(nil)), true, nil
}

// localRequirement reports whether a requirement line refers to files of
// the project or the machine.
func localRequirement(r string) bool {
	for _, p := range []string{"-r", "-c", "-e", "--requirement", "--constraint", "--editable", ".", "/", "~"} {
		if strings.HasPrefix(r, p) {
			return true
		}
	}
	return strings.Contains(r, "file:")
}

// findLinksListing writes the listing of pip's local wheel folders to w.
func (b *Builder) findLinksListing(w io.Writer) {
	for _, dir := range b.findLinks() {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		// By content, not by path or time: the fingerprint must be the
		// same on another machine with the same wheels.
		for _, e := range entries {
			if !e.Type().IsRegular() {
				continue
			}
			p := filepath.Join(dir, e.Name())
			b.opt.Hashes.Note(p)
			if sum, err := b.opt.Hashes.Sum(p); err == nil {
				fmt.Fprintf(w, "find-links %s %s\n", e.Name(), sum)
			}
		}
	}
}

// pipFunc installs the requirements into dir for p, the Python version
// and the wheel tags, writing pip's installation report to report (when
// it is not "").
type pipFunc func(ctx context.Context, dir, report string, p v1.Platform, version string, tags []string) error

// packagesFile holds, in an installation, the packages pip's report
// listed (for the SBOM), so a cached installation still names them. It is
// not part of the layer.
const packagesFile = ".kiln-packages.json"

// readPackages reads the packages of the installation in dir.
func readPackages(dir string) ([]runtime.Package, error) {
	data, err := os.ReadFile(filepath.Join(dir, packagesFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var pkgs []runtime.Package
	if err := json.Unmarshal(data, &pkgs); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, packagesFile), err)
	}
	return pkgs, nil
}

// installedDeps returns a folder holding the tidied dependencies for p:
// from the cache when its key is there, else installed with pip (and kept
// in the cache). done removes what is not kept.
func (b *Builder) installedDeps(ctx context.Context, p v1.Platform, version string, tags []string, install pipFunc) (dir string, done func(), err error) {
	key, cacheable, err := b.depKey(p, version, tags)
	if err != nil {
		return "", nil, err
	}
	cache := depCache{}
	if cacheable {
		cache.dir = b.opt.CacheDir
	}
	if d, ok := cache.get(key); ok {
		return d, func() {}, nil
	}
	stage, err := cache.stage(b.opt.WorkDir)
	if err != nil {
		return "", nil, err
	}
	report := stage + ".report.json"
	defer os.Remove(report)
	if err := install(ctx, stage, report, p, version, tags); err != nil {
		os.RemoveAll(stage)
		return "", nil, err
	}
	if _, err := os.Stat(report); err == nil {
		pkgs, err := readReport(report)
		if err == nil {
			var data []byte
			if data, err = json.Marshal(pkgs); err == nil {
				err = os.WriteFile(filepath.Join(stage, packagesFile), data, 0o644)
			}
		}
		if err != nil {
			os.RemoveAll(stage)
			return "", nil, err
		}
	}
	if err := Tidy(stage); err != nil {
		os.RemoveAll(stage)
		return "", nil, fmt.Errorf("tidying the dependencies for %s: %w", platform.String(p), err)
	}
	for _, host := range []string{filepath.Dir(stage), b.opt.WorkDir} {
		if f, err := FindString(stage, host); err != nil || f != "" {
			os.RemoveAll(stage)
			if err != nil {
				return "", nil, err
			}
			rel, _ := filepath.Rel(stage, f)
			return "", nil, fmt.Errorf("the installed file %s holds a path of the build machine (%s), which would make the image differ from machine to machine; kiln does not know how to clean it: please report it", rel, host)
		}
	}
	if d, kept := cache.put(key, stage); kept {
		return d, func() {}, nil
	}
	return stage, func() { os.RemoveAll(stage) }, nil
}
