package config

import (
	"fmt"

	"github.com/kiln-build/kiln/internal/lazy"
)

// PythonSettings are the python: keys of kiln.yaml.
type PythonSettings struct {
	// Version is the base image's Python version ("3.12"), for bases whose
	// config sets no PYTHON_VERSION.
	Version string `yaml:"version"`
	// Libc is the base's C library: "glibc" or "musl", optionally with a
	// version ("glibc 2.39"); it decides the wheel tags taken.
	Libc string `yaml:"libc"`
	// Module is the module a function lives in (default: function), or
	// the one an app runs with python -m.
	Module string `yaml:"module"`
}

var (
	pyVersionRE = lazy.Regexp(`^3\.\d+(\.\d+)?$`)
	moduleRE    = lazy.Regexp(`^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$`)
	libcRE      = lazy.Regexp(`^(glibc|musl)([ -]?\d+\.\d+)?$`)
)

// validateRuntime checks command and python (Settings.validate checks
// kind; the runtime's name is checked against the runtimes kiln has when
// a build picks one).
func (f *File) validateRuntime() error {
	if f.Command != nil && len(f.Command) == 0 {
		return fmt.Errorf("command: is empty; give the program and its arguments, e.g. [python3, -m, myapp]")
	}
	if v := f.Python.Version; v != "" && !pyVersionRE().MatchString(v) {
		return fmt.Errorf("python.version: %q is not a Python version like 3.12", v)
	}
	if l := f.Python.Libc; l != "" && !libcRE().MatchString(l) {
		return fmt.Errorf("python.libc: %q: write glibc or musl, optionally with a version, e.g. \"glibc 2.36\"", l)
	}
	if m := f.Python.Module; m != "" && !moduleRE().MatchString(m) {
		return fmt.Errorf("python.module: %q is not a module name like myapp or myapp.server", m)
	}
	return nil
}
