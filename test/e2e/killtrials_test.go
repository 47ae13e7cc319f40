package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// TestKillTrials kills kiln with SIGKILL at random moments of builds (with
// an OCI layout and an archive as outputs) and pushes, KILN_KILL_TRIALS
// times (default 3; hack/kill-trials.sh runs many), and counts the trials
// after which everything is intact: .kiln/last and the output layout
// validate (digests, diff_ids, sizes), the archive is absent or whole,
// what the registry holds under the tag validates, and the next build and
// push succeed. Any trial not intact fails the test.
func TestKillTrials(t *testing.T) {
	n := 3
	if s := os.Getenv("KILN_KILL_TRIALS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatalf("KILN_KILL_TRIALS=%q", s)
		}
	}
	reg := startRegistry(t)
	env := reg.dockerConfig(t, reg.pass)
	dir := example(t)
	outDir := tempDir(t)
	out, archive := filepath.Join(outDir, "oci"), filepath.Join(outDir, "images.tar")
	repo := reg.addr + "/trials/hello"
	args := func(push bool) []string {
		if push {
			return []string{"build", "-q", "--push", repo, "-t", "v1", "--insecure-registry"}
		}
		return []string{"build", "-q", "--output", "oci:" + out}
	}
	archiveArgs := []string{"build", "-q", "--output", "tar:" + archive}
	// How long a full run takes, to spread the kills over it.
	start := time.Now()
	if r := kiln(t, dir, env, args(false)...); r.code != 0 {
		t.Fatal(r.stderr)
	}
	full := time.Since(start) + 300*time.Millisecond
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 10))
	killed, intact := 0, 0
	for i := range n {
		// A new input, so the build is not reused.
		writeFile(t, filepath.Join(dir, "kodata", "trial.txt"), strconv.Itoa(i)+strings.Repeat("x", rng.IntN(1<<20)))
		kind := []string{"build", "push", "archive"}[i%3]
		a := args(kind == "push")
		if kind == "archive" {
			a = archiveArgs
		}
		cmd := exec.Command(kilnBin, a...)
		cmd.Dir, cmd.Env = dir, append(cleanEnv(), env...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		at := time.Duration(rng.Int64N(int64(full)))
		time.Sleep(at)
		if cmd.Process.Signal(syscall.SIGKILL) == nil {
			if err := cmd.Wait(); err != nil {
				killed++
			}
		}
		problems := checkIntact(t, dir, out, archive, reg, repo)
		// The next run of the same kind succeeds and leaves it intact too.
		if r := kiln(t, dir, env, a...); r.code != 0 {
			problems = append(problems, fmt.Sprintf("the next %s failed: %s", kind, r.stderr))
		} else {
			problems = append(problems, checkIntact(t, dir, out, archive, reg, repo)...)
		}
		if len(problems) == 0 {
			intact++
		} else {
			t.Errorf("trial %d (%s, kill after %v): %s", i, kind, at, strings.Join(problems, "; "))
		}
	}
	t.Logf("kill -9 trials: %d (builds, pushes and archive writes in turn), %d killed mid-run, %d intact", n, killed, intact)
	fmt.Printf("KILL TRIALS: %d trials, %d killed mid-run, %d intact\n", n, killed, intact)
}

// checkIntact lists what is not intact after a kill.
func checkIntact(t *testing.T, dir, out, archive string, reg *testRegistry, repo string) []string {
	var problems []string
	for _, l := range []string{filepath.Join(dir, ".kiln", "last", "oci"), out} {
		if _, err := os.Stat(filepath.Join(l, "index.json")); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err := validLayout(l); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", l, err))
		}
	}
	if _, err := os.Stat(archive); err == nil {
		if b, err := exec.Command("tar", "tf", archive).CombinedOutput(); err != nil || !strings.Contains(string(b), "manifest.json") {
			problems = append(problems, fmt.Sprintf("%s is not a whole archive: %v", archive, err))
		}
	}
	ref, err := name.ParseReference(repo+":v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if img, err := remote.Image(ref, append(reg.remoteOpts(), remote.WithContext(ctx))...); err == nil {
		if err := validate.Image(img); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", ref, err))
		}
	}
	return problems
}

func validLayout(dir string) error {
	lp, err := layout.FromPath(dir)
	if err != nil {
		return err
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		return err
	}
	return validate.Index(idx)
}
