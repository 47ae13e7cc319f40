// Package golang is kiln's Go runtime: it resolves main packages and
// functions (packages exporting an HTTP handler, which it wraps in a
// generated main package), fingerprints their inputs and cross-compiles
// them into a binary layer.
package golang

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/build"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/mod/modfile"

	"github.com/kiln-build/kiln/internal/lazy"
	"github.com/kiln-build/kiln/pkg/config"
	"github.com/kiln-build/kiln/pkg/runtime"
)

// Package is a main package or a function to build.
type Package struct {
	ImportPath string
	Dir        string // absolute
	ModuleRoot string // absolute directory of the module's go.mod
	ModulePath string // the module's path, from go.mod
	Kind       config.Kind
	// Function says what the package exports, for config.KindFunction.
	Function *Function
}

// Name returns the program name: the last element of the import path,
// skipping a major version suffix such as /v2.
func (p Package) Name() string {
	elems := strings.Split(p.ImportPath, "/")
	for i := len(elems) - 1; i > 0; i-- {
		if !majorVersion().MatchString(elems[i]) {
			return elems[i]
		}
	}
	return elems[0]
}

var majorVersion = lazy.Regexp(`^v[0-9]+$`)

type listedPackage struct {
	ImportPath string
	Name       string
	Dir        string
	GoFiles    []string
	Module     *struct {
		Path  string
		Dir   string
		GoMod string
		Main  bool
	}
	Error *struct{ Err string }
}

// Resolve finds the main packages and functions that args name. An
// argument is a directory (".", "./cmd/x", "/abs/dir") or an import path or
// pattern resolved in the module of dir. A pattern with "..." keeps only its
// main packages and functions; any other argument must be one. A package
// that is not main is a function when it exports what Signatures says;
// when it does not, the error is a *NotFunctionError.
func Resolve(ctx context.Context, dir string, args []string, env []string) ([]Package, error) {
	if len(args) == 0 {
		args = []string{"."}
	}
	var out []Package
	seen := map[string]bool{}
	for _, arg := range args {
		pkgs, err := resolveOne(ctx, dir, arg, env)
		if err != nil {
			return nil, err
		}
		for _, p := range pkgs {
			if !seen[p.Dir] {
				seen[p.Dir] = true
				out = append(out, p)
			}
		}
	}
	return out, nil
}

func isPathArg(dir, arg string) bool {
	if strings.Contains(arg, "...") {
		return false
	}
	if arg == "." || arg == ".." || strings.HasPrefix(arg, "./") || strings.HasPrefix(arg, "../") || filepath.IsAbs(arg) {
		return true
	}
	fi, err := os.Stat(filepath.Join(dir, arg))
	return err == nil && fi.IsDir()
}

func resolveOne(ctx context.Context, dir, arg string, env []string) ([]Package, error) {
	runDir, pattern := dir, arg
	if isPathArg(dir, arg) {
		abs := arg
		if !filepath.IsAbs(abs) {
			abs = filepath.Join(dir, arg)
		}
		fi, err := os.Stat(abs)
		if err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("%s: no such directory; name a directory holding a Go main package, or an import path", arg)
		}
		if p, ok := resolveDir(abs); ok {
			return []Package{p}, nil
		}
		runDir, pattern = abs, "."
	}
	cmd := exec.CommandContext(ctx, "go", "list", "-e", "-json=ImportPath,Name,Dir,GoFiles,Module,Error", "--", pattern)
	cmd.Dir = runDir
	cmd.Env = env
	runtime.LogCommand(ctx, cmd)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if strings.Contains(msg, "go.mod file not found") {
			return nil, fmt.Errorf("%s is not in a Go module (no go.mod in it or above it); run 'go mod init' there first", arg)
		}
		return nil, fmt.Errorf("listing %s: %s", arg, firstNonEmpty(msg, err.Error()))
	}
	var listed, notMain []listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var lp listedPackage
		if err := dec.Decode(&lp); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("reading go list output: %w", err)
		}
		if lp.Error != nil {
			return nil, fmt.Errorf("%s: %s", arg, strings.TrimSpace(lp.Error.Err))
		}
		listed = append(listed, lp)
		if lp.Name != "main" {
			notMain = append(notMain, lp)
		}
	}
	isPattern := strings.Contains(arg, "...")
	funcs, nots, err := detectFunctions(ctx, runDir, notMain, env)
	if err != nil {
		return nil, err
	}
	for _, lp := range notMain {
		// A pattern keeps only main packages and functions, but a
		// package that means to be a function and is not one is an
		// error there too, not a library skipped in silence.
		if e := nots[lp.ImportPath]; e != nil && (!isPattern || e.Meant) {
			if !isPattern {
				e.Arg = arg
			}
			return nil, e
		}
	}
	var pkgs []Package
	for _, lp := range listed {
		p := Package{ImportPath: lp.ImportPath, Dir: lp.Dir, Kind: config.KindApp}
		if lp.Name != "main" {
			if p.Function = funcs[lp.ImportPath]; p.Function == nil {
				continue
			}
			p.Kind = config.KindFunction
		}
		if lp.Module == nil || lp.Module.GoMod == "" {
			return nil, fmt.Errorf("%s is not in a Go module; run 'go mod init' in its directory first", arg)
		}
		p.ModuleRoot, p.ModulePath = filepath.Dir(lp.Module.GoMod), lp.Module.Path
		if !lp.Module.Main {
			// A package of a dependency (in the module cache, or
			// replaced by a directory): go builds it in the main
			// module, whose go.mod and go.sum choose its version, and
			// whose root holds .kiln.
			if p.ModuleRoot, p.ModulePath, err = mainModule(ctx, runDir, env); err != nil {
				return nil, err
			}
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("%s matches no main package or function\n%s", arg, Signatures)
	}
	return pkgs, nil
}

// mainModule returns the root directory and path of the main module of
// dir: the module whose go.mod is in or above dir.
func mainModule(ctx context.Context, dir string, env []string) (root, modPath string, err error) {
	cmd := exec.CommandContext(ctx, "go", "env", "GOMOD")
	cmd.Dir, cmd.Env = dir, env
	runtime.LogCommand(ctx, cmd)
	out, err := cmd.Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", "", fmt.Errorf("%s is not in a Go module (no go.mod in it or above it); run 'go mod init' there first", dir)
	}
	data, err := os.ReadFile(gomod)
	if err != nil {
		return "", "", err
	}
	return filepath.Dir(gomod), modfile.ModulePath(data), nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// resolveDir resolves a directory holding a main package without running
// the go command: go/build reads its files (honouring build constraints)
// and go.mod gives the module path. It reports false for anything else,
// which go list then resolves and explains.
func resolveDir(dir string) (Package, bool) {
	ctxt := build.Default
	ctxt.GOOS, ctxt.CgoEnabled = "linux", false
	bp, err := ctxt.ImportDir(dir, 0)
	if err != nil || bp.Name != "main" {
		return Package{}, false
	}
	for root := dir; ; root = filepath.Dir(root) {
		data, err := os.ReadFile(filepath.Join(root, "go.mod"))
		if err == nil {
			mod := modfile.ModulePath(data)
			if mod == "" {
				return Package{}, false
			}
			rel, err := filepath.Rel(root, dir)
			if err != nil {
				return Package{}, false
			}
			return Package{ImportPath: path.Join(mod, filepath.ToSlash(rel)), Dir: dir, ModuleRoot: root, Kind: config.KindApp}, true
		}
		if root == filepath.Dir(root) {
			return Package{}, false
		}
	}
}
