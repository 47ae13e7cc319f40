package golang

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/pkg/blob"
	"github.com/kiln-build/kiln/pkg/layer"
)

// linkedAndStamped compiles a small program with the go command and
// returns it as the go command left it (stamped) and as the linker wrote
// it: the same bytes but for the build ID's last part, which the linker
// writes as a placeholder equal to its first (cmd/go's useCache).
func linkedAndStamped(t *testing.T, source string) (linked, final []byte) {
	t.Helper()
	dir := module(t, map[string]string{"go.mod": "module example.com/m\n\ngo 1.22\n", "main.go": source})
	out := filepath.Join(t.TempDir(), "m")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, ".")
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	final, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	idOut, err := exec.Command("go", "tool", "buildid", out).Output()
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(string(idOut))
	parts := strings.Split(id, "/")
	if len(parts) != 4 || !bytes.Contains(final, []byte(id)) {
		t.Fatalf("build ID %q: want 4 parts, found in the program", id)
	}
	placeholder := strings.Join(parts[:3], "/") + "/" + parts[0]
	return bytes.ReplaceAll(final, []byte(id), []byte(placeholder)), final
}

// TestStampAsGoStamps: what kiln predicts the go command writes into the
// linker's output makes, byte for byte, the program the go command left.
func TestStampAsGoStamps(t *testing.T) {
	for _, goarch := range []string{"amd64", "arm64"} {
		t.Run(goarch, func(t *testing.T) {
			t.Setenv("GOARCH", goarch)
			linked, final := linkedAndStamped(t, "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hi\") }\n")
			patches, err := stamp(linked)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range patches {
				copy(linked[p.At:], p.Bytes)
			}
			if !bytes.Equal(linked, final) {
				t.Error("the predicted program differs from the one go build left")
			}
		})
	}
}

// TestStampRefusesOthers: what is not a linked Go program with a
// placeholder build ID is refused.
func TestStampRefusesOthers(t *testing.T) {
	_, final := linkedAndStamped(t, "package main\n\nfunc main() {}\n")
	for name, data := range map[string][]byte{
		"not ELF":         []byte("#!/bin/sh\necho hi\n"),
		"already stamped": final,
		"cut short":       final[:len(final)/3],
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := stamp(data); !errors.Is(err, errNotStampable) {
				t.Errorf("stamp: %v, want errNotStampable", err)
			}
		})
	}
}

// TestBuildPredicts: with the go command itself, after an edit, Build
// takes the layer written while the go command stamped the program, and
// it is the layer of the program the go command left.
func TestBuildPredicts(t *testing.T) {
	if goruntime.GOOS != "linux" {
		t.Skip("the linker's output is watched for on Linux")
	}
	dir := module(t, map[string]string{"go.mod": "module example.com/m\n\ngo 1.22\n", "main.go": "package main\n\nfunc main() { println(1) }\n"})
	pkgs, err := Resolve(context.Background(), dir, []string{"."}, os.Environ())
	if err != nil {
		t.Fatal(err)
	}
	blocks := t.TempDir()
	for i := range 2 {
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() { println("+string(rune('1'+i))+") }\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		b := New(pkgs[0], Options{Env: os.Environ(), WorkDir: t.TempDir(), BlockDir: blocks})
		c, err := b.Build(context.Background(), blob.Store{Dir: t.TempDir()}, host, layer.Options{})
		if err == nil {
			err = c.Done()
		}
		if err != nil {
			t.Fatal(err)
		}
		// (The first has no kept blocks, but a program this small is
		// predicted from copies anyway.)
		if n := b.predicted.Load(); i > 0 && n != 1 {
			t.Errorf("build after the edit: %d predicted layers taken, want 1", n)
		}
		want, err := b.contribution(context.Background(), blob.Store{Dir: t.TempDir()}, host, b.binaryPath(host), layer.Options{})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := c.Layers[0].Layer.Digest()
		if w, _ := want.Layers[0].Layer.Digest(); got != w {
			t.Errorf("build %d: layer %s, want %s (written from the program go build left)", i, got, w)
		}
	}
}
