package golang

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/pkg/blob"
	"github.com/kiln-build/kiln/pkg/layer"
)

var host = v1.Platform{OS: goruntime.GOOS, Architecture: goruntime.GOARCH}

// TestSameNamedProgramsBuildApart: two programs named alike (a/server,
// b/server) compile into the same work folder at once; each gets its own
// binary, not whichever go build renamed into place last.
func TestSameNamedProgramsBuildApart(t *testing.T) {
	dir := module(t, map[string]string{
		"go.mod":           "module example.com/m\n\ngo 1.22\n",
		"a/server/main.go": "package main\n\nfunc main() { println(\"a\") }\n",
		"b/server/main.go": "package main\n\nfunc main() { println(\"b\") }\n",
	})
	pkgs, err := Resolve(context.Background(), dir, []string{"./a/server", "./b/server"}, os.Environ())
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	var compiles []*compile
	for _, p := range pkgs {
		compiles = append(compiles, New(p, Options{Env: os.Environ(), WorkDir: work}).startCompile(context.Background(), host))
	}
	for i, c := range compiles {
		<-c.done
		if c.err != nil {
			t.Fatal(c.err)
		}
		out, err := exec.Command(c.binary).CombinedOutput()
		if want := string("ab"[i]); err != nil || strings.TrimSpace(string(out)) != want {
			t.Errorf("%s's binary %s said %q (%v), want %q", pkgs[i].ImportPath, c.binary, out, err, want)
		}
	}
	if compiles[0].binary == compiles[1].binary {
		t.Errorf("both programs compile to %s", compiles[0].binary)
	}
}

// fakeGo puts on PATH a go command that installs the program at -o's path
// by a rename, as go build does, then runs tail (shell) before it ends.
func fakeGo(t *testing.T, program, tail string) {
	t.Helper()
	bin := t.TempDir()
	script := fmt.Sprintf(`#!/bin/sh
while [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done
cp %q "$out.tmp" && mv "$out.tmp" "$out"
%s
`, program, tail)
	if err := os.WriteFile(filepath.Join(bin, "go"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// hostBinary is a Go program with build information.
func hostBinary(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return self
}

// TestBuildWaitsForTheGoCommand: the layer may be written as soon as go
// build has put the binary in place, and Build may return then, but the
// contribution's Done returns only once the go command has ended, and
// fails if it failed.
func TestBuildWaitsForTheGoCommand(t *testing.T) {
	pkg := Package{ImportPath: "example.com/m", ModuleRoot: t.TempDir()}
	for _, ok := range []bool{true, false} {
		t.Run(fmt.Sprint("go build ends well: ", ok), func(t *testing.T) {
			marker := filepath.Join(t.TempDir(), "ended")
			tail := fmt.Sprintf("sleep 0.3; touch %q; exit 0", marker)
			if !ok {
				tail = fmt.Sprintf("sleep 0.3; touch %q; echo 'link: out of luck' >&2; exit 1", marker)
			}
			fakeGo(t, hostBinary(t), tail)
			b := New(pkg, Options{Env: os.Environ(), WorkDir: t.TempDir()})
			c, err := b.Build(context.Background(), blob.Store{Dir: t.TempDir()}, host, layer.Options{})
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if len(c.Layers) != 1 || c.Done == nil {
				t.Fatalf("Build gave %d layers and Done %v, want the binary's and a Done", len(c.Layers), c.Done != nil)
			}
			err = c.Done()
			if _, statErr := os.Stat(marker); statErr != nil {
				t.Errorf("Done returned before the go command ended")
			}
			var ce *CompileError
			switch {
			case ok && err != nil:
				t.Errorf("Done: %v", err)
			case !ok && !errors.As(err, &ce):
				t.Errorf("Done after a failed go build: %v; want its CompileError", err)
			case !ok && !strings.Contains(err.Error(), "out of luck"):
				t.Errorf("the error %q does not say what go build said", err)
			}
		})
	}
}
