package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestFleetCache: a build pushed from one machine is found in the
// registry by another with a fresh clone elsewhere, no .kiln and an empty
// Go build cache, which then neither compiles nor uploads; a change on the
// second machine is built and pushed, and the first still finds the old
// commit's image.
func TestFleetCache(t *testing.T) {
	needTool(t, "git")
	reg := startRegistry(t)
	regEnv := reg.dockerConfig(t, reg.pass)
	repo := reg.addr + "/fleet/hello"

	// The project, committed to a repository both machines clone.
	origin := example(t)
	gitEnv := []string{"GIT_AUTHOR_NAME=k", "GIT_AUTHOR_EMAIL=k@example.com", "GIT_COMMITTER_NAME=k", "GIT_COMMITTER_EMAIL=k@example.com", "GIT_AUTHOR_DATE=2026-01-02T03:04:05Z", "GIT_COMMITTER_DATE=2026-01-02T03:04:05Z"}
	git := func(dir string, args ...string) string {
		return command(t, gitEnv, "git", append([]string{"-C", dir}, args...)...)
	}
	git(origin, "init", "-q")
	git(origin, "add", ".")
	git(origin, "commit", "-q", "-m", "hello")

	// A machine: its own clone, and a go command that logs how it is
	// run.
	type machine struct {
		dir, goLog string
		env        []string
	}
	realGo := needTool(t, "go")
	// emptyCache gives the machine an empty GOCACHE of its own; without
	// it, the machine uses the user's (warm) one, which keeps the test
	// short where a cold cache proves nothing.
	newMachine := func(where string, emptyCache bool) machine {
		root := filepath.Join(tempDir(t), where)
		m := machine{dir: filepath.Join(root, "src", "hello"), goLog: filepath.Join(root, "go.log")}
		command(t, nil, "git", "clone", "-q", origin, m.dir)
		bin := filepath.Join(root, "bin")
		writeFile(t, filepath.Join(bin, "go"), "#!/bin/sh\necho \"$*\" >> "+m.goLog+"\nexec "+realGo+" \"$@\"\n")
		if err := os.Chmod(filepath.Join(bin, "go"), 0o755); err != nil {
			t.Fatal(err)
		}
		m.env = append([]string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")}, regEnv...)
		if emptyCache {
			m.env = append(m.env, "GOCACHE="+filepath.Join(root, "gocache"))
		}
		return m
	}
	push := func(m machine) (stdout, stderr string) {
		t.Helper()
		os.Remove(m.goLog)
		r := kiln(t, m.dir, m.env, "build", "--push", repo, "--insecure-registry")
		if r.code != 0 {
			t.Fatalf("kiln build --push in %s: exit %d\n%s", m.dir, r.code, r.stderr)
		}
		return r.stdout, r.stderr
	}
	compiled := func(m machine) bool {
		data, _ := os.ReadFile(m.goLog)
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "build ") {
				return true
			}
		}
		return false
	}

	a := newMachine("a", false)
	first, _ := push(a)
	if !compiled(a) {
		t.Fatal("machine A ran no go build: the wrapper does not see kiln's go commands")
	}
	tags, err := remote.List(mustRef(t, repo+":x").Context(), reg.remoteOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(tags, " "), "kiln-fp-") {
		t.Fatalf("no fingerprint tag was pushed: %q", tags)
	}

	// B: a fresh clone in another directory, an empty GOCACHE, no .kiln.
	b := newMachine("b-elsewhere", true)
	uploads, _ := reg.counts()
	out, errOut := push(b)
	if out != first {
		t.Fatalf("machine B printed %q, machine A %q\n%s", out, first, errOut)
	}
	if compiled(b) {
		data, _ := os.ReadFile(b.goLog)
		t.Errorf("machine B ran go build:\n%s", data)
	}
	if now, _ := reg.counts(); now != uploads {
		t.Errorf("machine B started %d blob uploads, want none", now-uploads)
	}
	if !strings.Contains(errOut, "found in the registry") {
		t.Errorf("machine B did not say the build came from the registry:\n%s", errOut)
	}

	// One line changes on B: it compiles and pushes another image.
	main := filepath.Join(b.dir, "main.go")
	src, err := os.ReadFile(main)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, main, strings.Replace(string(src), "Hello from kiln!", "Hello from machine B!", 1))
	changed, _ := push(b)
	if changed == first || !compiled(b) {
		t.Fatalf("after an edit, machine B printed %q (first %q), compiled %v", changed, first, compiled(b))
	}

	// A, without its .kiln now, builds the old commit: still a hit.
	if err := os.RemoveAll(filepath.Join(a.dir, ".kiln")); err != nil {
		t.Fatal(err)
	}
	again, _ := push(a)
	if again != first || compiled(a) {
		t.Errorf("machine A's rebuild of the old commit printed %q (want %q), compiled %v", again, first, compiled(a))
	}

	// --no-remote-cache builds on a fresh machine.
	c := newMachine("c", false)
	os.Remove(c.goLog)
	r := kiln(t, c.dir, c.env, "build", "-q", "--push", repo, "--insecure-registry", "--no-remote-cache")
	if r.code != 0 || r.stdout != first || !compiled(c) {
		t.Errorf("--no-remote-cache: exit %d, stdout %q (want %q), compiled %v\n%s", r.code, r.stdout, first, compiled(c), r.stderr)
	}
}
