// Package scaffold writes starter projects for kiln init.
package scaffold

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"github.com/kiln-build/kiln/pkg/config"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/kiln-build/kiln/internal/lazy"
	"github.com/kiln-build/kiln/pkg/atomicfile"
)

//go:embed python
var pythonFiles embed.FS

var nonName = lazy.Regexp(`[^a-z0-9]+`)

// WritePython writes a Python starter of kind (app or function) into dir,
// creating it, and returns the files written (relative to dir). Its
// project name is dir's base name. It never overwrites a file.
func WritePython(dir string, kind config.Kind) ([]string, error) {
	if kind == "" {
		kind = config.KindApp
	}
	if kind != config.KindApp && kind != config.KindFunction {
		return nil, fmt.Errorf("kind %q: write app or function", kind)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	name := strings.Trim(nonName().ReplaceAllString(strings.ToLower(filepath.Base(abs)), "-"), "-")
	if name == "" {
		name = "app"
	}
	root := path.Join("python", string(kind))
	entries, err := fs.ReadDir(pythonFiles, root)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(abs, e.Name())); err == nil {
			return nil, fmt.Errorf("%s already exists; kiln init writes into a new or empty directory and never overwrites files", filepath.Join(dir, e.Name()))
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, err
	}
	var written []string
	for _, e := range entries {
		data, err := pythonFiles.ReadFile(path.Join(root, e.Name()))
		if err != nil {
			return nil, err
		}
		tmpl, err := template.New(e.Name()).Parse(string(data))
		if err != nil {
			return nil, err
		}
		var out bytes.Buffer
		if err := tmpl.Execute(&out, struct{ Name string }{name}); err != nil {
			return nil, err
		}
		if err := atomicfile.WriteBytes(filepath.Join(abs, e.Name()), out.Bytes(), 0o644); err != nil {
			return nil, err
		}
		written = append(written, e.Name())
	}
	return written, nil
}
