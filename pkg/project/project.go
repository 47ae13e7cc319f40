// Package project describes what is being built: a module root, its
// kiln.yaml, and facts about its source (git commit, tag, source date) that
// go into images and templates.
package project

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kiln-build/kiln/internal/environ"
	"github.com/kiln-build/kiln/internal/lazy"
	"github.com/kiln-build/kiln/pkg/buildstore"
	"github.com/kiln-build/kiln/pkg/config"
	"github.com/kiln-build/kiln/pkg/hashcache"
)

// StateDir is the directory kiln keeps builds in, at the project root.
const StateDir = ".kiln"

// Project is a module root with its configuration and source facts.
type Project struct {
	Root   string // absolute directory holding go.mod and kiln.yaml
	Config *config.File
	Source Source
	Env    []string // the environment kiln runs in
	// Hashes remembers the hashes of the project's files in .kiln between
	// builds; SaveHashes writes what it learnt back.
	Hashes *hashcache.Cache
}

// Source holds what kiln learns about the project's source.
type Source struct {
	// Date is the time given to every file, history entry and the
	// created label: SOURCE_DATE_EPOCH, else the commit time of a clean
	// git HEAD, else the Unix epoch. (With uncommitted changes to files
	// no build reads, see AtCommit.)
	Date time.Time
	// DateFrom says where Date came from, for messages.
	DateFrom string
	Commit   string // HEAD's hash, "" outside git
	Tag      string // a tag pointing at HEAD, "" if none
	Remote   string // origin's URL without credentials, "" if none
	Dirty    bool   // the work tree under Root has uncommitted changes
	// CommitDate is HEAD's commit time; zero outside git.
	CommitDate time.Time
	// Changed are the files under Root with uncommitted changes
	// (modified, added, untracked; absolute paths), and Removed says
	// whether a tracked file was deleted or renamed.
	Changed []string
	Removed bool
	// fromEnv says SOURCE_DATE_EPOCH set Date.
	fromEnv bool
}

// AtCommit returns the source dated with HEAD's commit time although the
// work tree has uncommitted changes, when none of them is a file the build
// reads: read lists those (absolute paths). kiln.yaml and a deleted or
// renamed file always count. ok is false when the date stays as it is
// (SOURCE_DATE_EPOCH, a clean tree, no commit, or a changed input).
func (s Source) AtCommit(root string, read []string) (_ Source, ok bool) {
	if s.fromEnv || !s.Dirty || s.CommitDate.IsZero() || s.Removed {
		return s, false
	}
	// Paths are compared with their directories' symbolic links
	// resolved: go list may name files by another path than kiln.
	dirs := map[string]string{}
	canonical := func(p string) string {
		d := filepath.Dir(p)
		real, ok := dirs[d]
		if !ok {
			var err error
			if real, err = filepath.EvalSymlinks(d); err != nil {
				real = d
			}
			dirs[d] = real
		}
		return filepath.Join(real, filepath.Base(p))
	}
	changed := map[string]bool{}
	for _, c := range s.Changed {
		changed[canonical(c)] = true
	}
	for _, p := range append([]string{filepath.Join(root, config.FileName)}, read...) {
		if changed[canonical(p)] {
			return s, false
		}
	}
	s.Date, s.DateFrom = s.CommitDate, "git commit "+s.Commit[:min(12, len(s.Commit))]+" (uncommitted changes only to files no build reads)"
	return s, true
}

// Load reads the project rooted at root. env is the environment used for
// SOURCE_DATE_EPOCH and templates; nil means the process's.
func Load(ctx context.Context, root string, env []string) (*Project, error) {
	if env == nil {
		env = os.Environ()
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(abs)
	if err != nil {
		return nil, err
	}
	src, err := readSource(ctx, abs, env)
	if err != nil {
		return nil, err
	}
	p := &Project{Root: abs, Config: cfg, Source: src, Env: env}
	// Runtimes keep state in .kiln before any build takes its lock: a
	// link there out of the project is refused before anything is written.
	if err := buildstore.Check(p.StatePath()); err != nil {
		return nil, err
	}
	p.Hashes = hashcache.Open(filepath.Join(p.StatePath(), "hashes.json"))
	return p, nil
}

// SaveHashes writes the file hashes learnt during a build to .kiln. Call
// it holding the lock on .kiln.
func (p *Project) SaveHashes() error {
	if err := p.Hashes.Save(); err != nil {
		return fmt.Errorf("saving file hashes in %s: %w", p.StatePath(), err)
	}
	return nil
}

// StatePath returns the project's .kiln directory.
func (p *Project) StatePath() string { return filepath.Join(p.Root, StateDir) }

// RelDir returns dir relative to the root, slash-separated ("." for the root).
func (p *Project) RelDir(dir string) string {
	rel, err := filepath.Rel(p.Root, dir)
	if err != nil {
		return dir
	}
	return filepath.ToSlash(rel)
}

// TemplateData returns what kiln.yaml templates may use.
func (p *Project) TemplateData() *config.TemplateData {
	d := &config.TemplateData{
		Date:      p.Source.Date.UTC().Format(time.RFC3339),
		Timestamp: p.Source.Date.Unix(),
		Env:       map[string]string{},
	}
	d.Git.Commit = p.Source.Commit
	d.Git.ShortCommit = p.Source.Commit[:min(12, len(p.Source.Commit))]
	d.Git.Tag = p.Source.Tag
	for _, kv := range p.Env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			d.Env[k] = v
		}
	}
	return d
}

// Getenv looks key up in the project's environment.
func (p *Project) Getenv(key string) string {
	v, _ := environ.Lookup(p.Env, key)
	return v
}

func readSource(ctx context.Context, root string, env []string) (Source, error) {
	var s Source
	if mayBeRepository(root) {
		s = readGit(ctx, root)
	}
	epoch, _ := environ.Lookup(env, "SOURCE_DATE_EPOCH")
	switch {
	case epoch != "":
		n, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil || n < 0 {
			return s, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a Unix time in seconds; set it to e.g. $(git log -1 --format=%%ct) or unset it", epoch)
		}
		s.Date, s.DateFrom, s.fromEnv = time.Unix(n, 0).UTC(), "SOURCE_DATE_EPOCH", true
	case !s.CommitDate.IsZero() && !s.Dirty:
		s.Date, s.DateFrom = s.CommitDate, "git commit "+s.Commit[:min(12, len(s.Commit))]
	default:
		s.Date, s.DateFrom = time.Unix(0, 0).UTC(), "fixed epoch"
		if s.Dirty {
			s.DateFrom = "fixed epoch (uncommitted changes)"
		}
	}
	return s, nil
}

// mayBeRepository reports whether git could find a repository for dir:
// it is told where one is (GIT_DIR), or dir or a directory above it holds
// .git (a folder, or a file for a worktree or submodule). Where neither
// is so, git need not run: a process costs milliseconds before the
// compile can start.
func mayBeRepository(dir string) bool {
	if os.Getenv("GIT_DIR") != "" {
		return true
	}
	for {
		if _, err := os.Lstat(filepath.Join(dir, ".git")); err == nil {
			return true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return false
		}
		dir = parent
	}
}

// readGit reads what a build records of the git work tree root is in: the
// commit, its date and tag, the remote, and the uncommitted changes. The
// git commands run at once (none takes a lock: GIT_OPTIONAL_LOCKS=0).
func readGit(ctx context.Context, root string) Source {
	var (
		wg                                 sync.WaitGroup
		head, status, prefix, tags, remote string
	)
	// A command that fails leaves its output empty.
	run := func(out *string, args ...string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			*out, _ = git(ctx, root, args...)
		}()
	}
	run(&head, "log", "-1", "--format=%H %ct", "HEAD")
	run(&status, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", ".")
	run(&prefix, "rev-parse", "--show-prefix")
	run(&tags, "tag", "--points-at", "HEAD", "--sort=-version:refname")
	run(&remote, "config", "--get", "remote.origin.url")
	wg.Wait()
	var s Source
	commit, ct, _ := strings.Cut(strings.TrimSpace(head), " ")
	if commit == "" {
		return s // not a repository, or no commit yet
	}
	s.Commit = commit
	s.Dirty = status != ""
	if s.Dirty {
		s.Changed, s.Removed = parseStatus(root, strings.TrimSpace(prefix), status)
	}
	if n, err := strconv.ParseInt(ct, 10, 64); err == nil {
		s.CommitDate = time.Unix(n, 0).UTC()
	}
	if tags := strings.Fields(tags); len(tags) > 0 {
		s.Tag = tags[0]
	}
	if remote := strings.TrimSpace(remote); remote != "" {
		s.Remote = cleanRemote(remote)
	}
	return s
}

// parseStatus reads git status --porcelain=v1 -z of root, whose path from
// the work tree's top is prefix: the changed files (absolute), and whether
// any tracked file was deleted or renamed.
func parseStatus(root, prefix, status string) (changed []string, removed bool) {
	fields := strings.Split(status, "\x00")
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		if len(f) < 4 {
			continue
		}
		xy, name := f[:2], f[3:]
		switch {
		case strings.ContainsAny(xy, "RC"):
			// The source path follows as a field of its own.
			removed = true
			i++
		case strings.Contains(xy, "D"):
			removed = true
			continue
		}
		changed = append(changed, filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(name, prefix))))
	}
	return changed, removed
}

// git runs git in dir and returns its output as it is.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_OPTIONAL_LOCKS=0", "LC_ALL=C")
	out, err := cmd.Output()
	return string(out), err
}

// scpLike is git's [user[:password]@]host:path form.
var scpLike = lazy.Regexp(`^(?:[^@/]+@)?([\w.-]+):([^/].*)$`)

// cleanRemote turns a remote into a browsable https URL without
// credentials, so the source label is the same whichever way the
// repository was cloned and never leaks a token: the user part, the query
// (where some CI systems put an access token) and the fragment are dropped.
func cleanRemote(r string) string {
	if m := scpLike().FindStringSubmatch(r); m != nil && !strings.Contains(r, "://") {
		r = "https://" + m[1] + "/" + m[2]
	}
	u, err := url.Parse(r)
	if err != nil || u.Host == "" {
		return ""
	}
	if u.Scheme == "ssh" || u.Scheme == "git" {
		// The ssh port says nothing about where the web page is.
		u.Scheme, u.Host = "https", u.Hostname()
	}
	if p := u.Port(); (u.Scheme == "https" && p == "443") || (u.Scheme == "http" && p == "80") {
		u.Host = u.Hostname()
	}
	u.User = nil
	u.RawQuery, u.ForceQuery = "", false
	u.Fragment, u.RawFragment = "", ""
	u.Path = strings.TrimSuffix(u.Path, ".git")
	u.RawPath = ""
	return u.String()
}
