// Package golang is kiln's Go runtime: it resolves main packages,
// fingerprints their inputs and cross-compiles them into a binary layer.
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
	"regexp"
	"strings"

	"golang.org/x/mod/modfile"
)

// Package is a main package to build.
type Package struct {
	ImportPath string
	Dir        string // absolute
	ModuleRoot string // absolute directory of the module's go.mod
}

// Name returns the program name: the last element of the import path,
// skipping a major version suffix such as /v2.
func (p Package) Name() string {
	elems := strings.Split(p.ImportPath, "/")
	for i := len(elems) - 1; i > 0; i-- {
		if !majorVersion.MatchString(elems[i]) {
			return elems[i]
		}
	}
	return elems[0]
}

var majorVersion = regexp.MustCompile(`^v[0-9]+$`)

type listedPackage struct {
	ImportPath string
	Name       string
	Dir        string
	Module     *struct {
		Path  string
		Dir   string
		GoMod string
	}
	Error *struct{ Err string }
}

// Resolve finds the main packages that args name. An argument is a
// directory (".", "./cmd/x", "/abs/dir") or an import path or pattern
// resolved in the module of dir. A pattern with "..." keeps only its main
// packages; any other argument must be a main package.
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
	cmd := exec.CommandContext(ctx, "go", "list", "-e", "-json=ImportPath,Name,Dir,Module,Error", "--", pattern)
	cmd.Dir = runDir
	cmd.Env = env
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
	var pkgs []Package
	var notMain []string
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
		if lp.Name != "main" {
			notMain = append(notMain, fmt.Sprintf("%s is package %s", lp.ImportPath, lp.Name))
			continue
		}
		if lp.Module == nil || lp.Module.GoMod == "" {
			return nil, fmt.Errorf("%s is not in a Go module; run 'go mod init' in its directory first", arg)
		}
		pkgs = append(pkgs, Package{ImportPath: lp.ImportPath, Dir: lp.Dir, ModuleRoot: filepath.Dir(lp.Module.GoMod)})
	}
	isPattern := strings.Contains(arg, "...")
	if len(pkgs) == 0 || (!isPattern && len(notMain) > 0) {
		what := strings.Join(notMain, "; ")
		if what == "" {
			what = "no packages matched"
		}
		return nil, fmt.Errorf("%s is not a main package (%s): kiln build needs a program, a package main with a func main()", arg, what)
	}
	return pkgs, nil
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
			return Package{ImportPath: path.Join(mod, filepath.ToSlash(rel)), Dir: dir, ModuleRoot: root}, true
		}
		if root == filepath.Dir(root) {
			return Package{}, false
		}
	}
}
