// Package testutil holds helpers shared by kiln's tests.
package testutil

import (
	"archive/zip"
	"bytes"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// CopyDir copies the tree src to dst, leaving out .kiln build folders.
func CopyDir(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			if d.Name() == ".kiln" {
				return filepath.SkipDir
			}
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// WriteFile writes content to p, creating its directory.
func WriteFile(t testing.TB, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Ls returns the names of the entries of dir, sorted.
func Ls(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// GoProxy writes a Go module proxy into a new directory, serving each
// module of mods (module path to its files, go.mod among them) as version
// v1.0.0, and returns the environment that makes the go command use it and
// a module cache of the test's own: GOPROXY=file://..., no checksum
// database, no network.
func GoProxy(t testing.TB, mods map[string]map[string]string) []string {
	t.Helper()
	root := t.TempDir()
	const version = "v1.0.0"
	for mod, files := range mods {
		dir := filepath.Join(root, filepath.FromSlash(mod), "@v")
		WriteFile(t, filepath.Join(dir, "list"), version+"\n")
		WriteFile(t, filepath.Join(dir, version+".info"), `{"Version":"`+version+`","Time":"2024-01-01T00:00:00Z"}`)
		WriteFile(t, filepath.Join(dir, version+".mod"), files["go.mod"])
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, name := range slices.Sorted(maps.Keys(files)) {
			w, err := zw.Create(mod + "@" + version + "/" + name)
			if err == nil {
				_, err = io.WriteString(w, files[name])
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		WriteFile(t, filepath.Join(dir, version+".zip"), buf.String())
	}
	return []string{
		"GOPROXY=file://" + filepath.ToSlash(root), "GOSUMDB=off", "GONOSUMDB=", "GOPRIVATE=",
		"GOMODCACHE=" + filepath.Join(t.TempDir(), "modcache"), "GOFLAGS=-modcacherw",
	}
}
