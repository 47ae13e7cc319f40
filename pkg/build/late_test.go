package build_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/pkg/build"
	"github.com/kiln-build/kiln/pkg/buildstore"
)

// TestGoFailingLateKeepsNothing: the image is made while the go command
// ends, once the program is in place (runtime.Contribution.Done); a go
// command that fails after that fails the build, which keeps nothing.
func TestGoFailingLateKeepsNothing(t *testing.T) {
	realGo, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	script := fmt.Sprintf("#!/bin/sh\n%q \"$@\" || exit\nif [ \"$1\" = build ]; then sleep 0.2; echo 'go: it failed late' >&2; exit 3; fi\n", realGo)
	if err := os.WriteFile(filepath.Join(bin, "go"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	dir := copyExample(t)
	_, err = build.Build(context.Background(), opts{Dir: dir}.options(t))
	if err == nil || !strings.Contains(err.Error(), "it failed late") {
		t.Fatalf("build with a go command that fails late: %v, want its error", err)
	}
	var kept []string
	filepath.WalkDir(filepath.Join(dir, ".kiln"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == buildstore.ResultFile {
			kept = append(kept, p)
		}
		return nil
	})
	if len(kept) != 0 {
		t.Errorf("the failed build was kept: %v", kept)
	}
}
