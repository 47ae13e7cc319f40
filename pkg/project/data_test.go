package project

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/testutil"
	"github.com/kiln-build/kiln/pkg/config"
)

// TestDataConfined: data directories are confined to the project root, as
// BuildKit confines a build to its context. An absolute path or ".."
// leaving the root put host files (registry credentials) into images.
func TestDataConfined(t *testing.T) {
	top := t.TempDir()
	outside := filepath.Join(top, "secrets")
	testutil.WriteFile(t, filepath.Join(outside, "dockercfg"), "token")
	root := filepath.Join(top, "a", "b", "project")
	testutil.WriteFile(t, filepath.Join(root, "web", "index.html"), "hi")
	testutil.WriteFile(t, filepath.Join(root, "cmd", "app", "main.go"), "package main")
	if err := os.Symlink(outside, filepath.Join(root, "linked")); err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, filepath.Join(root, "leaky", "ok.txt"), "ok")
	if err := os.Symlink("../../../../secrets/dockercfg", filepath.Join(root, "leaky", "cfg")); err != nil {
		t.Fatal(err)
	}
	p := &Project{Root: root}
	off := false

	for _, tt := range []struct {
		entry string
		want  []string // fragments of the error; nil: no error
	}{
		{"web", nil},
		{"./web/../web:/srv", nil},
		{outside + ":/leak", []string{`data: "` + outside + `:/leak"`, "absolute path", "inside the project"}},
		{"/etc:/leak", []string{`data: "/etc:/leak"`, "absolute path"}},
		{"../../../secrets:/leak", []string{`data: "../../../secrets:/leak"`, "leaves the project"}},
		{"../../../../../../../../tmp:/leak", []string{"leaves the project"}},
		{"web/../../project/../..:/leak", []string{"leaves the project"}},
		{"linked:/leak", []string{`data: "linked:/leak"`, "symbolic link", outside}},
		{"leaky:/srv", []string{filepath.Join("leaky", "cfg"), "outside"}},
	} {
		t.Run(tt.entry, func(t *testing.T) {
			d, err := p.Data(filepath.Join(root, "cmd", "app"), config.Settings{Data: []string{tt.entry}, Kodata: &off})
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Data(%q) = %v", tt.entry, err)
				}
				if d.Tree == nil || d.Tree.Len() == 0 {
					t.Errorf("Data(%q) collected nothing", tt.entry)
				}
				return
			}
			if err == nil {
				t.Fatalf("Data(%q) = nil error; the entry reaches outside the project: %v", tt.entry, d.Doc)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Data(%q) = %q, want it to say %q", tt.entry, err, w)
				}
			}
		})
	}

	t.Run("kodata linked out", func(t *testing.T) {
		dir := filepath.Join(root, "cmd", "other")
		testutil.WriteFile(t, filepath.Join(dir, "main.go"), "package main")
		if err := os.Symlink(outside, filepath.Join(dir, "kodata")); err != nil {
			t.Fatal(err)
		}
		_, err := p.Data(dir, config.Settings{})
		if err == nil || !strings.Contains(err.Error(), "kodata") || !strings.Contains(err.Error(), "outside the project") {
			t.Errorf("Data with kodata linked to %s = %v, want an error naming kodata", outside, err)
		}
	})
}
