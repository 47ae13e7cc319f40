package build_test

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/kiln-build/kiln/pkg/base"
	"github.com/kiln-build/kiln/pkg/build"
	kilnregistry "github.com/kiln-build/kiln/pkg/registry"
	"github.com/kiln-build/kiln/pkg/runtime"
)

// TestEditLoopCommands: after an edit, go build starts before the base is
// looked up in its registry (the compile does not wait for a round trip);
// the unchanged build after it runs no go command at all, not even a
// compile it would then throw away.
func TestEditLoopCommands(t *testing.T) {
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	ref := strings.TrimPrefix(reg.URL, "http://") + "/base:v1"
	pushRandomBase(t, ref)
	dir := copyExample(t)
	// Seconds pass between builds, as in an edit loop: kiln trusts a
	// directory's modification time only once it is a few seconds old.
	later := func() {
		old := time.Now().Add(-time.Minute)
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() && d.Name() != ".kiln" {
				err = os.Chtimes(p, old, old)
			}
			return err
		})
	}
	o := opts{Dir: dir, Base: ref, Platforms: "linux/amd64", Cache: base.Cache{Dir: t.TempDir()}}
	var mu sync.Mutex
	var events []string
	logTo := func(kind string) func(string) {
		return func(line string) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, kind+" "+line)
		}
	}
	build1 := func() *build.Result {
		t.Helper()
		mu.Lock()
		events = nil
		mu.Unlock()
		ctx := runtime.WithCommandLog(context.Background(), logTo("$"))
		ctx = kilnregistry.WithLog(ctx, logTo("registry"))
		res, err := build.Build(ctx, o.options(t))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	build1()
	later()
	f, err := os.OpenFile(filepath.Join(dir, "main.go"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("\nvar edited = 1\n")
	f.Close()

	if res := build1(); res.Reused {
		t.Fatal("the build after an edit reused the last one")
	}
	compile, lookup := -1, -1
	for i, e := range events {
		switch {
		case compile < 0 && strings.HasPrefix(e, "$ ") && strings.Contains(e, "go build"):
			compile = i
		case lookup < 0 && strings.HasPrefix(e, "registry ") && strings.Contains(e, "/manifests/v1"):
			lookup = i
		}
	}
	if compile < 0 || lookup < 0 || compile > lookup {
		t.Errorf("after an edit, go build (event %d) should start before the base's lookup (event %d):\n%s", compile, lookup, strings.Join(events, "\n"))
	}

	if res := build1(); !res.Reused {
		t.Fatal("an unchanged build was not reused")
	}
	for _, e := range events {
		if strings.HasPrefix(e, "$ ") {
			t.Errorf("the unchanged build after an edit ran %s", e)
		}
	}
}
