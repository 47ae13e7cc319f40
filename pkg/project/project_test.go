package project

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCleanRemote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"git@github.com:org/repo.git", "https://github.com/org/repo"},
		{"git@github.com:org/repo", "https://github.com/org/repo"},
		{"github.com:org/repo.git", "https://github.com/org/repo"},
		{"git@gitlab.example.com:group/sub/repo.git", "https://gitlab.example.com/group/sub/repo"},
		{"ssh://git@github.com/org/repo.git", "https://github.com/org/repo"},
		{"ssh://git@github.com:2222/org/repo.git", "https://github.com/org/repo"},
		{"git://github.com/org/repo.git", "https://github.com/org/repo"},
		{"https://github.com/org/repo.git", "https://github.com/org/repo"},
		{"https://github.com/org/repo", "https://github.com/org/repo"},
		{"https://user:ghp_secret@github.com/org/repo.git", "https://github.com/org/repo"},
		{"https://oauth2:token@gitlab.com/org/repo", "https://gitlab.com/org/repo"},
		{"https://token@github.com/org/repo.git", "https://github.com/org/repo"},
		{"https://github.com:443/org/repo.git", "https://github.com/org/repo"},
		{"https://git.example.com:8443/org/repo.git", "https://git.example.com:8443/org/repo"},
		{"http://internal.example/org/repo.git", "http://internal.example/org/repo"},
		// Local remotes have no address anyone else can browse.
		{"/srv/git/repo.git", ""},
		{"../repo", ""},
		{"file:///srv/git/repo.git", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got := cleanRemote(tt.in)
		if got != tt.want {
			t.Errorf("cleanRemote(%q) = %q, want %q", tt.in, got, tt.want)
		}
		for _, secret := range []string{"secret", "token", "oauth2"} {
			if strings.Contains(got, secret) {
				t.Errorf("cleanRemote(%q) = %q leaks a credential", tt.in, got)
			}
		}
	}
}

// TestCleanRemoteSecrets covers where else a remote can carry a secret:
// a token in the query (as some CI systems write it), a fragment, and a
// password in the user part of an scp-like address.
func TestCleanRemoteSecrets(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://example.com/org/repo.git?access_token=T0PSECRET", "https://example.com/org/repo"},
		{"https://example.com/org/repo?private_token=T0PSECRET&x=1", "https://example.com/org/repo"},
		{"https://example.com/org/repo.git#T0PSECRET", "https://example.com/org/repo"},
		{"https://example.com/org/repo.git?", "https://example.com/org/repo"},
		{"https://user:T0PSECRET@example.com/org/repo.git?access_token=T0PSECRET#T0PSECRET", "https://example.com/org/repo"},
		{"http://oauth2:T0PSECRET@example.com:80/org/repo.git?token=T0PSECRET", "http://example.com/org/repo"},
		{"ssh://git:T0PSECRET@example.com:2222/org/repo.git?token=T0PSECRET", "https://example.com/org/repo"},
		{"ssh://git@example.com/org/repo.git#T0PSECRET", "https://example.com/org/repo"},
		{"git@example.com:org/repo.git?access_token=T0PSECRET", "https://example.com/org/repo"},
		{"git@example.com:org/repo.git#T0PSECRET", "https://example.com/org/repo"},
		{"user:T0PSECRET@example.com:org/repo.git", "https://example.com/org/repo"},
		{"git://example.com/org/repo.git?token=T0PSECRET", "https://example.com/org/repo"},
	}
	for _, tt := range tests {
		got := cleanRemote(tt.in)
		if got != tt.want {
			t.Errorf("cleanRemote(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if strings.Contains(got, "T0PSECRET") {
			t.Errorf("cleanRemote(%q) = %q leaks the secret", tt.in, got)
		}
	}
}

// isolateGit keeps the host's git configuration and any repository above
// the test's directories out of the tests.
func isolateGit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	t.Setenv("GIT_CONFIG_GLOBAL", os.DevNull)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("GIT_CEILING_DIRECTORIES", filepath.Dir(t.TempDir()))
	t.Setenv("SOURCE_DATE_EPOCH", "")
}

// Commit times used in the tests: the committer's date is the source date,
// not the author's.
const (
	commitDate = "2023-11-15T00:13:20+02:00" // = 1700000000
	commitUnix = 1700000000
	authorDate = "2001-02-03T04:05:06Z"
)

func gitRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=Test", "-c", "user.email=test@example.com",
		"-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_DATE="+authorDate, "GIT_COMMITTER_DATE="+commitDate)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func write(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// newRepo makes a git repository with one commit and returns its root.
func newRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	gitRun(t, dir, "init", "-q")
	write(t, filepath.Join(dir, "go.mod"), "module example.com/app\n\ngo 1.22\n")
	write(t, filepath.Join(dir, "main.go"), "package main\n\nfunc main() {}\n")
	write(t, filepath.Join(dir, "sub", "go.mod"), "module example.com/sub\n")
	write(t, filepath.Join(dir, "kiln.yaml"), "name: app\n")
	gitRun(t, dir, "add", "-A")
	gitRun(t, dir, "commit", "-q", "-m", "first")
	return dir
}

func load(t *testing.T, root string, env []string) *Project {
	t.Helper()
	p, err := Load(context.Background(), root, env)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadCleanRepo(t *testing.T) {
	isolateGit(t)
	dir := newRepo(t)
	gitRun(t, dir, "tag", "v1.9.0")
	gitRun(t, dir, "tag", "v1.10.0")
	gitRun(t, dir, "tag", "v1.2.0")
	gitRun(t, dir, "remote", "add", "origin", "https://ci:s3cret@github.com/example/app.git")
	head := gitRun(t, dir, "rev-parse", "HEAD")
	// .kiln ignores itself, so builds do not make the tree dirty.
	write(t, filepath.Join(dir, StateDir, ".gitignore"), "# Created by kiln\n*\n")
	write(t, filepath.Join(dir, StateDir, "builds", "x", "build.json"), "{}")

	p := load(t, dir, []string{"HOME=/nowhere"})
	s := p.Source
	if s.Dirty {
		t.Errorf("a clean work tree (with an ignored .kiln) is Dirty")
	}
	if s.Commit != head {
		t.Errorf("Commit = %q, want %q", s.Commit, head)
	}
	if s.Tag != "v1.10.0" {
		t.Errorf("Tag = %q, want the highest version v1.10.0", s.Tag)
	}
	if s.Remote != "https://github.com/example/app" {
		t.Errorf("Remote = %q", s.Remote)
	}
	if !s.Date.Equal(time.Unix(commitUnix, 0)) || s.Date.Location() != time.UTC {
		t.Errorf("Date = %v, want the commit time %v in UTC", s.Date, time.Unix(commitUnix, 0).UTC())
	}
	if s.DateFrom != "git commit "+head[:12] {
		t.Errorf("DateFrom = %q", s.DateFrom)
	}
	if p.Root != dir || p.Config.Name != "app" || p.Config.Path != filepath.Join(dir, "kiln.yaml") {
		t.Errorf("Root %q, config %+v", p.Root, p.Config)
	}
	if p.StatePath() != filepath.Join(dir, ".kiln") {
		t.Errorf("StatePath() = %q", p.StatePath())
	}

	// SOURCE_DATE_EPOCH wins over the commit time.
	p = load(t, dir, []string{"SOURCE_DATE_EPOCH=1234567890"})
	if !p.Source.Date.Equal(time.Unix(1234567890, 0)) || p.Source.DateFrom != "SOURCE_DATE_EPOCH" || p.Source.Commit != head {
		t.Errorf("with SOURCE_DATE_EPOCH: %+v", p.Source)
	}
}

func TestLoadDirtyRepo(t *testing.T) {
	isolateGit(t)
	changes := map[string]func(t *testing.T, dir string){
		"modified file":  func(t *testing.T, dir string) { write(t, filepath.Join(dir, "main.go"), "package main\n// changed\n") },
		"untracked file": func(t *testing.T, dir string) { write(t, filepath.Join(dir, "new.go"), "package main\n") },
		"deleted file": func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "kiln.yaml")); err != nil {
				t.Fatal(err)
			}
		},
		"staged change": func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "main.go"), "package main\n// staged\n")
			gitRun(t, dir, "add", "main.go")
		},
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			dir := newRepo(t)
			head := gitRun(t, dir, "rev-parse", "HEAD")
			change(t, dir)
			s := load(t, dir, []string{}).Source
			if !s.Dirty {
				t.Errorf("Dirty = false after a %s", name)
			}
			if !s.Date.Equal(time.Unix(0, 0)) {
				t.Errorf("Date = %v, want the fixed epoch", s.Date)
			}
			if s.DateFrom != "fixed epoch (uncommitted changes)" {
				t.Errorf("DateFrom = %q", s.DateFrom)
			}
			if s.Commit != head {
				t.Errorf("Commit = %q, want HEAD %q even when dirty", s.Commit, head)
			}
			// An explicit SOURCE_DATE_EPOCH still applies.
			s = load(t, dir, []string{"SOURCE_DATE_EPOCH=42"}).Source
			if !s.Date.Equal(time.Unix(42, 0)) || !s.Dirty {
				t.Errorf("dirty with SOURCE_DATE_EPOCH=42: %+v", s)
			}
		})
	}
}

// Only changes under the project root count: a module in a subdirectory of
// the repository is clean when the rest of the repository is not.
func TestLoadSubdirectory(t *testing.T) {
	isolateGit(t)
	dir := newRepo(t)
	write(t, filepath.Join(dir, "main.go"), "package main\n// changed outside sub\n")
	sub := filepath.Join(dir, "sub")
	s := load(t, sub, []string{}).Source
	if s.Dirty || !s.Date.Equal(time.Unix(commitUnix, 0)) {
		t.Errorf("sub is clean but Source = %+v", s)
	}
	write(t, filepath.Join(sub, "x.go"), "package sub\n")
	if s := load(t, sub, []string{}).Source; !s.Dirty {
		t.Errorf("a new file in sub does not make it dirty")
	}
}

func TestLoadOutsideGit(t *testing.T) {
	isolateGit(t)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "go.mod"), "module example.com/app\n")
	p := load(t, dir, []string{})
	s := p.Source
	if s.Commit != "" || s.Tag != "" || s.Remote != "" || s.Dirty {
		t.Errorf("outside git: %+v, want no git facts", s)
	}
	if !s.Date.Equal(time.Unix(0, 0)) || s.DateFrom != "fixed epoch" {
		t.Errorf("outside git: Date %v from %q, want the fixed epoch", s.Date, s.DateFrom)
	}
	if p.Config == nil || p.Config.Path != "" {
		t.Errorf("without kiln.yaml Config = %+v, want an empty config", p.Config)
	}
}

func TestLoadRepoWithoutCommits(t *testing.T) {
	isolateGit(t)
	dir := t.TempDir()
	gitRun(t, dir, "init", "-q")
	write(t, filepath.Join(dir, "go.mod"), "module example.com/app\n")
	s := load(t, dir, []string{}).Source
	if s.Commit != "" || !s.Date.Equal(time.Unix(0, 0)) || s.DateFrom != "fixed epoch" {
		t.Errorf("repository without commits: %+v", s)
	}
}

func TestSourceDateEpoch(t *testing.T) {
	isolateGit(t)
	dir := t.TempDir()
	valid := []struct {
		env  []string
		want int64
	}{
		{[]string{"SOURCE_DATE_EPOCH=0"}, 0},
		{[]string{"SOURCE_DATE_EPOCH=1700000000"}, 1700000000},
		// The last assignment wins, as in a shell.
		{[]string{"SOURCE_DATE_EPOCH=1", "SOURCE_DATE_EPOCH=2"}, 2},
		{[]string{"SOURCE_DATE_EPOCH=5", "SOURCE_DATE_EPOCH_X=9"}, 5},
	}
	for _, tt := range valid {
		s := load(t, dir, tt.env).Source
		if !s.Date.Equal(time.Unix(tt.want, 0)) || s.DateFrom != "SOURCE_DATE_EPOCH" || s.Date.Location() != time.UTC {
			t.Errorf("env %q: Date %v from %q, want %d", tt.env, s.Date, s.DateFrom, tt.want)
		}
	}

	for _, bad := range []string{"yesterday", "-1", "1.5", "1700000000 ", "0x10", "99999999999999999999"} {
		p, err := Load(context.Background(), dir, []string{"SOURCE_DATE_EPOCH=" + bad})
		if err == nil {
			t.Errorf("SOURCE_DATE_EPOCH=%q accepted: %+v", bad, p.Source)
			continue
		}
		for _, w := range []string{`SOURCE_DATE_EPOCH="` + bad + `"`, "not a Unix time in seconds", "git log -1 --format=%ct", "unset it"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("SOURCE_DATE_EPOCH=%q: error %q does not contain %q", bad, err, w)
			}
		}
	}

	// A nil environment means the process's.
	t.Setenv("SOURCE_DATE_EPOCH", "777")
	if s := load(t, dir, nil).Source; !s.Date.Equal(time.Unix(777, 0)) {
		t.Errorf("with env nil and SOURCE_DATE_EPOCH=777 in the process: Date %v", s.Date)
	}
}

func TestLoadBadConfig(t *testing.T) {
	isolateGit(t)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "kiln.yaml"), "name: a\nnmae: b\n")
	if _, err := Load(context.Background(), dir, []string{}); err == nil || !strings.Contains(err.Error(), "kiln.yaml:2") {
		t.Errorf("Load with a bad kiln.yaml = %v, want the config error", err)
	}
}

func TestTemplateData(t *testing.T) {
	p := &Project{
		Root: "/src/app",
		Source: Source{
			Date:   time.Date(2023, 11, 15, 0, 13, 20, 0, time.FixedZone("EET", 2*3600)),
			Commit: "0123456789abcdef0123456789abcdef01234567",
			Tag:    "v1.2.3",
		},
		Env: []string{"REGION=eu", "EMPTY=", "WITH_EQ=a=b", "NOEQUALS", "REGION=us"},
	}
	d := p.TemplateData()
	if d.Date != "2023-11-14T22:13:20Z" {
		t.Errorf("Date = %q, want RFC 3339 in UTC", d.Date)
	}
	if d.Timestamp != commitUnix {
		t.Errorf("Timestamp = %d, want %d", d.Timestamp, commitUnix)
	}
	if d.Git.Commit != p.Source.Commit || d.Git.ShortCommit != "0123456789ab" || d.Git.Tag != "v1.2.3" {
		t.Errorf("Git = %+v", d.Git)
	}
	want := map[string]string{"REGION": "us", "EMPTY": "", "WITH_EQ": "a=b"}
	if len(d.Env) != len(want) {
		t.Errorf("Env = %v, want %v", d.Env, want)
	}
	for k, v := range want {
		if got, ok := d.Env[k]; !ok || got != v {
			t.Errorf("Env[%s] = %q (%v), want %q", k, got, ok, v)
		}
	}
	// Getenv agrees with the template data.
	for k, v := range want {
		if got := p.Getenv(k); got != v {
			t.Errorf("Getenv(%s) = %q, want %q", k, got, v)
		}
	}
	if got := p.Getenv("MISSING"); got != "" {
		t.Errorf("Getenv(MISSING) = %q", got)
	}

	// Outside git: empty strings, not a panic on a short commit.
	p = &Project{Source: Source{Date: time.Unix(0, 0)}}
	d = p.TemplateData()
	if d.Git.Commit != "" || d.Git.ShortCommit != "" || d.Git.Tag != "" || d.Date != "1970-01-01T00:00:00Z" || d.Timestamp != 0 || d.Env == nil {
		t.Errorf("outside git: %+v", d)
	}
}

func TestRelDir(t *testing.T) {
	p := &Project{Root: "/src/app"}
	tests := []struct{ in, want string }{
		{"/src/app", "."},
		{"/src/app/cmd/api", "cmd/api"},
		{"/src/app/cmd/api/", "cmd/api"},
		{"/src/other", "../other"},
	}
	for _, tt := range tests {
		if got := p.RelDir(tt.in); got != tt.want {
			t.Errorf("RelDir(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestGitRunsOnlyInRepository: outside any repository no git process runs
// (each costs milliseconds before the compile starts); inside one, the
// facts are read as before (the tests above).
func TestGitRunsOnlyInRepository(t *testing.T) {
	isolateGit(t)
	real, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	if mayBeRepository(dir) {
		t.Skip("the temporary folder is inside a git repository here")
	}
	bin, calls := t.TempDir(), filepath.Join(t.TempDir(), "calls")
	write(t, filepath.Join(bin, "git"), fmt.Sprintf("#!/bin/sh\necho \"$*\" >> %q\nexec %q \"$@\"\n", calls, real))
	if err := os.Chmod(filepath.Join(bin, "git"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	write(t, filepath.Join(dir, "go.mod"), "module example.com/app\n")
	load(t, dir, []string{})
	if got, err := os.ReadFile(calls); err == nil {
		t.Errorf("outside a repository, git ran:\n%s", got)
	}
	gitRun(t, dir, "init", "-q")
	if s := load(t, filepath.Join(dir), []string{}).Source; s.Commit != "" {
		t.Errorf("a repository without commits: commit %q", s.Commit)
	}
	if got, err := os.ReadFile(calls); err != nil || !strings.Contains(string(got), "log -1") {
		t.Errorf("in a repository, git ran %q (%v), want its log among others", got, err)
	}
}
