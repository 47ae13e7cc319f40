// Package scaffold writes new projects that kiln builds as they are (kiln
// init): an app (a main package) or a function, each an HTTP service on
// $PORT with a test, a kiln.yaml and a .gitignore for .kiln/. Projects
// use only the standard library, so nothing is downloaded to build them.
package scaffold

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"github.com/kiln-build/kiln/pkg/config"
	"go/format"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"text/template"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/kiln-build/kiln/internal/lazy"
	"github.com/kiln-build/kiln/pkg/atomicfile"
	"github.com/kiln-build/kiln/pkg/runtime/golang"
)

//go:embed templates
var templates embed.FS

// Runtimes and Kinds are what Init can write.
var (
	Runtimes = []string{"go", "python"}
	Kinds    = []config.Kind{config.KindApp, config.KindFunction}
)

// ErrNotEmpty says that the directory to write into holds files already.
var ErrNotEmpty = errors.New("kiln init writes a new project into a new or empty directory")

// Options say what to write where.
type Options struct {
	// Dir is the project directory; it is created if needed.
	Dir string
	// Runtime is the language: go (the default) or python.
	Runtime string
	// Kind is an app (the default) or a function.
	Kind config.Kind
	// Module is the Go module path; "" derives it from Dir's name.
	Module string
	// GoVersion is go.mod's go line; "" takes the installed toolchain's
	// language version, so nothing needs downloading.
	GoVersion string
	// Template, "http" or "cloudevents", writes a Knative Functions
	// project (with a func.yaml) in the shape func create gives it,
	// instead of kiln's own starter.
	Template string
	// Force writes into a directory that is not empty, replacing files of
	// the same names (and adding .kiln/ to an existing .gitignore).
	Force bool
	// Env is the environment go runs in; nil means the process's.
	Env []string
}

// Result says what was written.
type Result struct {
	Dir     string // absolute
	Kind    config.Kind
	Module  string   // the module path
	Package string   // the package clause of the code
	Name    string   // the program's name: its binary and image name
	Files   []string // written, relative to Dir
}

// Init writes a new project.
func Init(ctx context.Context, opt Options) (*Result, error) {
	if opt.Runtime == "" {
		opt.Runtime = "go"
	}
	if !slices.Contains(Runtimes, opt.Runtime) {
		return nil, fmt.Errorf("runtime %q is not one kiln knows: use %s", opt.Runtime, strings.Join(Runtimes, ", "))
	}
	if opt.Kind == "" && opt.Template == "" {
		opt.Kind = config.KindApp
	}
	if opt.Template == "" && !slices.Contains(Kinds, opt.Kind) {
		return nil, fmt.Errorf("kind %q is not one kiln knows: use app (a program, package main) or function (a package exporting New or Handle, which kiln serves)", opt.Kind)
	}
	if opt.Dir == "" {
		return nil, errors.New("no directory given: name the directory for the new project")
	}
	dir, err := filepath.Abs(opt.Dir)
	if err != nil {
		return nil, err
	}
	if err := checkEmpty(dir, opt.Force); err != nil {
		return nil, err
	}
	if opt.Template != "" {
		return writeKnative(ctx, dir, opt)
	}
	if opt.Runtime == "python" {
		files, err := WritePython(dir, opt.Kind)
		if err != nil {
			return nil, err
		}
		return &Result{Dir: dir, Kind: opt.Kind, Name: filepath.Base(dir), Files: files}, nil
	}
	res := &Result{Dir: dir, Kind: opt.Kind, Module: opt.Module}
	if res.Module == "" {
		res.Module = moduleName(filepath.Base(dir), string(opt.Kind))
	}
	if err := checkModule(res.Module); err != nil {
		return nil, err
	}
	res.Name = golang.Package{ImportPath: res.Module}.Name()
	if _, err := name.NewRepository(res.Name); err != nil {
		return nil, fmt.Errorf("module %s: its last element %q names the image, which must be lower case letters, digits, '.', '-' or '_'; choose another module path", res.Module, res.Name)
	}
	res.Package = "main"
	if opt.Kind == config.KindFunction {
		res.Package = packageName(res.Name)
	}
	if opt.GoVersion == "" {
		opt.GoVersion = goVersion(ctx, opt.Env)
	}

	data := struct {
		Module, Package, Name, GoVersion string
	}{res.Module, res.Package, res.Name, opt.GoVersion}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for _, sub := range []string{"common", string(opt.Kind)} {
		root := path.Join("templates", opt.Runtime, sub)
		entries, err := fs.ReadDir(templates, root)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			file, err := render(path.Join(root, e.Name()), data)
			if err != nil {
				return nil, err
			}
			rel := strings.TrimSuffix(e.Name(), ".tmpl")
			if rel == "gitignore" {
				// Kept without its dot in kiln's tree, which ignores nothing.
				rel = ".gitignore"
				file = mergeGitignore(filepath.Join(dir, rel), file)
			}
			if err := atomicfile.WriteBytes(filepath.Join(dir, rel), file, 0o644); err != nil {
				return nil, err
			}
			res.Files = append(res.Files, rel)
		}
	}
	return res, nil
}

func render(p string, data any) ([]byte, error) {
	return renderFS(templates, p, data)
}

// renderFS runs the template p of fsys over data; Go source comes out
// gofmt clean.
func renderFS(fsys fs.ReadFileFS, p string, data any) ([]byte, error) {
	text, err := fsys.ReadFile(p)
	if err != nil {
		return nil, err
	}
	t, err := template.New(path.Base(p)).Option("missingkey=error").Parse(string(text))
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, err
	}
	if strings.HasSuffix(p, ".go.tmpl") {
		return format.Source(b.Bytes())
	}
	return b.Bytes(), nil
}

// checkEmpty refuses a directory that holds anything, unless forced.
func checkEmpty(dir string, force bool) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(entries) == 0 || force {
		return nil
	}
	var names []string
	for _, e := range entries[:min(len(entries), 5)] {
		names = append(names, e.Name())
	}
	if len(entries) > 5 {
		names = append(names, "…")
	}
	return fmt.Errorf("%s is not empty (it holds %s): %w", dir, strings.Join(names, ", "), ErrNotEmpty)
}

// mergeGitignore keeps an existing .gitignore, adding .kiln/ when missing.
func mergeGitignore(p string, fresh []byte) []byte {
	old, err := os.ReadFile(p)
	if err != nil {
		return fresh
	}
	for _, line := range strings.Split(string(old), "\n") {
		if l := strings.TrimSpace(line); l == ".kiln" || l == ".kiln/" || l == "/.kiln" || l == "/.kiln/" {
			return old
		}
	}
	if len(old) > 0 && !bytes.HasSuffix(old, []byte("\n")) {
		old = append(old, '\n')
	}
	return append(old, fresh...)
}

var notModuleChar = lazy.Regexp(`[^a-z0-9._-]+`)

// moduleName derives a module path, which is also the image name, from a
// directory name: lower case, other characters turned into dashes.
func moduleName(base, kind string) string {
	m := strings.Trim(notModuleChar().ReplaceAllString(strings.ToLower(base), "-"), "-._")
	if m == "" {
		return kind
	}
	return m
}

var modulePath = lazy.Regexp(`^[A-Za-z0-9][A-Za-z0-9._~-]*(/[A-Za-z0-9._~-]+)*$`)

func checkModule(m string) error {
	if !modulePath().MatchString(m) || strings.Contains(m, "..") {
		return fmt.Errorf("module %q is not a module path: write e.g. example.com/team/hello", m)
	}
	return nil
}

// packageName turns a program name into a package clause: letters and
// digits only, starting with a letter, never a keyword or main.
func packageName(n string) string {
	var b strings.Builder
	for _, r := range n {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9' && b.Len() > 0) {
			b.WriteRune(r)
		}
	}
	p := b.String()
	if p == "" || p == "main" || token.IsKeyword(p) {
		return "function"
	}
	return p
}

var goRelease = lazy.Regexp(`^go(1\.\d+)`)

// goVersion is the installed toolchain's language version ("1.26"), so a
// new project never makes go download a newer toolchain; 1.22 without one.
func goVersion(ctx context.Context, env []string) string {
	cmd := exec.CommandContext(ctx, "go", "env", "GOVERSION")
	// Away from any go.mod whose toolchain line would pick another go.
	cmd.Dir, cmd.Env = os.TempDir(), env
	out, err := cmd.Output()
	if m := goRelease().FindStringSubmatch(strings.TrimSpace(string(out))); err == nil && m != nil {
		return m[1]
	}
	return "1.22"
}
