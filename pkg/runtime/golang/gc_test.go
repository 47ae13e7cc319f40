package golang

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestGCEnv(t *testing.T) {
	const gib = 1 << 30
	for _, c := range []struct {
		name   string
		env    []string
		memory uint64
		procs  int
		want   []string
	}{
		{"a quarter, split", nil, 16 * gib, 4, []string{"GOGC=off", "GOMEMLIMIT=1024MiB"}},
		{"one process", []string{"HOME=/h"}, 8 * gib, 1, []string{"GOGC=off", "GOMEMLIMIT=2048MiB"}},
		{"empty values are unset", []string{"GOGC=", "GOMEMLIMIT="}, 8 * gib, 2, []string{"GOGC=off", "GOMEMLIMIT=1024MiB"}},
		{"the user's GOGC", []string{"GOGC=100"}, 16 * gib, 2, nil},
		{"the user's GOMEMLIMIT", []string{"GOMEMLIMIT=3GiB"}, 16 * gib, 2, nil},
		{"set, then emptied", []string{"GOGC=50", "GOGC="}, 16 * gib, 2, []string{"GOGC=off", "GOMEMLIMIT=2048MiB"}},
		{"too little memory", nil, 2 * gib, 4, nil},
		{"memory unknown", nil, 0, 2, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := gcEnv(c.env, c.memory, c.procs); !slices.Equal(got, c.want) {
				t.Errorf("gcEnv = %q, want %q", got, c.want)
			}
		})
	}
}

// withoutGC is the test's environment without the collector's settings.
func withoutGC() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "GOGC=") || strings.HasPrefix(kv, "GOMEMLIMIT=")
	})
}

// TestGCEnvKeepsTheProgram: with the go command itself, a program built
// under gcEnv's settings (its own build cache, so that the compiler and
// linker run under them) is byte for byte the one built without them.
func TestGCEnvKeepsTheProgram(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the runtime twice")
	}
	dir := module(t, map[string]string{"go.mod": "module example.com/m\n\ngo 1.22\n", "main.go": "package main\n\nfunc main() { println(\"hi\") }\n"})
	settings := gcEnv(nil, 8<<30, 2)
	if len(settings) == 0 {
		t.Fatal("gcEnv set nothing for 8 GiB and two processes")
	}
	var programs [][]byte
	for _, extra := range [][]string{nil, settings} {
		out := filepath.Join(t.TempDir(), "m")
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, ".")
		cmd.Dir = dir
		cmd.Env = append(withoutGC(), append([]string{"CGO_ENABLED=0", "GOCACHE=" + t.TempDir()}, extra...)...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %q: %v\n%s", extra, err, b)
		}
		p, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		programs = append(programs, p)
	}
	if !bytes.Equal(programs[0], programs[1]) {
		t.Errorf("the program built with %q differs from the one built without", settings)
	}
}

// TestGoCommandTunesGC: the programs the go command runs (as it runs the
// compiler and linker) see gcEnv's settings for this machine, and a
// user's GOGC instead when there is one.
func TestGoCommandTunesGC(t *testing.T) {
	dir := module(t, map[string]string{"go.mod": "module example.com/m\n\ngo 1.22\n", "main.go": "package main\n\nimport (\n\t\"fmt\"\n\t\"runtime/debug\"\n)\n\nfunc main() { fmt.Println(debug.SetGCPercent(100), debug.SetMemoryLimit(-1)) }\n"})
	run := func(env []string) string {
		t.Helper()
		cmd := goCommand(context.Background(), dir, env, "run", ".")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go run: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	env := append(withoutGC(), "CGO_ENABLED=0")
	want := "100 9223372036854775807" // Go's defaults
	if s := GCEnv(env); len(s) > 0 {
		mib, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(s[1], "GOMEMLIMIT="), "MiB"), 10, 64)
		if err != nil {
			t.Fatalf("gcEnv: %q: %v", s, err)
		}
		want = fmt.Sprint(-1, mib<<20)
	} else {
		t.Logf("this machine's memory (%d bytes) keeps Go's defaults", memoryLimit())
	}
	if got := run(env); got != want {
		t.Errorf("the go command's program saw %q, want %q", got, want)
	}
	if got, want := run(append(env, "GOGC=50")), "50 9223372036854775807"; got != want {
		t.Errorf("with the user's GOGC=50: %q, want %q", got, want)
	}
}
