package scaffold

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kiln-build/kiln/pkg/atomicfile"
)

//go:embed all:knative
var knativeFiles embed.FS

// Templates are the Knative Functions project shapes Init writes with
// Options.Template.
var Templates = []string{"http", "cloudevents"}

// funcName turns a directory name into a function name, as func.yaml's
// name: must be (lower case letters, digits and '-').
func funcName(dir string) string {
	n := strings.Trim(nonName().ReplaceAllString(strings.ToLower(filepath.Base(dir)), "-"), "-")
	if n == "" {
		return "function"
	}
	return n
}

// writeKnative writes a project in the shape func create gives it, with a
// func.yaml, for opt.Runtime and opt.Template, into dir.
func writeKnative(ctx context.Context, dir string, opt Options) (*Result, error) {
	if !slices.Contains(Templates, opt.Template) {
		return nil, fmt.Errorf("template %q is not one kiln knows: use http or cloudevents", opt.Template)
	}
	if opt.Kind != "" && opt.Kind != "function" {
		return nil, fmt.Errorf("kind %s: a template writes a function; leave kind out", opt.Kind)
	}
	res := &Result{Dir: dir, Kind: "function", Name: funcName(dir)}
	if opt.Runtime == "go" {
		res.Module, res.Package = "function", "function"
		if opt.GoVersion == "" {
			opt.GoVersion = goVersion(ctx, opt.Env)
		}
	}
	data := struct {
		Name, Runtime, Template, GoVersion, Created string
	}{res.Name, opt.Runtime, opt.Template, opt.GoVersion, time.Now().UTC().Format(time.RFC3339)}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for _, root := range []string{"knative/common", path.Join("knative", opt.Runtime, opt.Template)} {
		err := fs.WalkDir(knativeFiles, root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			file, err := renderFS(knativeFiles, p, data)
			if err != nil {
				return err
			}
			rel := strings.TrimSuffix(strings.TrimPrefix(p, root+"/"), ".tmpl")
			if rel == "gitignore" || rel == "funcignore" {
				rel = "." + rel
			}
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o755); err != nil {
				return err
			}
			if err := atomicfile.WriteBytes(filepath.Join(dir, rel), file, 0o644); err != nil {
				return err
			}
			res.Files = append(res.Files, rel)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if opt.Runtime == "go" && opt.Template == "cloudevents" {
		// The CloudEvents SDK's go.sum lines, from the module cache or the
		// Go module proxy.
		cmd := exec.CommandContext(ctx, "go", "mod", "tidy")
		cmd.Dir, cmd.Env = dir, opt.Env
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go mod tidy in %s, to fetch the CloudEvents SDK: %v\n%s\nrun it there again when the Go module proxy can be reached", dir, err, strings.TrimSpace(string(out)))
		}
		res.Files = append(res.Files, "go.sum")
	}
	return res, nil
}
