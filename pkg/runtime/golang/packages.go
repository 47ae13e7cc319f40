package golang

import (
	"debug/buildinfo"
	"fmt"
	"path/filepath"

	"github.com/kiln-build/kiln/pkg/runtime"
)

// Packages lists what the Go binary at bin was built from, as its build
// information says: the toolchain, the main module and every module
// linked into it with the version and go.sum hash the go command
// recorded. Nothing is guessed: a binary without build information is an
// error.
func Packages(bin string) ([]runtime.Package, error) {
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("reading the build information of %s: %w", filepath.Base(bin), err)
	}
	out := []runtime.Package{
		{Type: "golang", Name: "stdlib", Version: bi.GoVersion, Toolchain: true},
		{Type: "golang", Name: bi.Main.Path, Version: bi.Main.Version, Checksum: bi.Main.Sum, Main: true},
	}
	for _, d := range bi.Deps {
		if d.Replace != nil {
			// The code linked in is the replacement's.
			d = d.Replace
		}
		out = append(out, runtime.Package{Type: "golang", Name: d.Path, Version: d.Version, Checksum: d.Sum})
	}
	return out, nil
}
