// Package all registers kiln's runtimes. A new runtime is added here, in
// the order in which runtimes are asked whether a directory is theirs: Go,
// which claims every directory, comes last.
package all

import (
	"github.com/kiln-build/kiln/pkg/runtime"
	"github.com/kiln-build/kiln/pkg/runtime/golang"
	"github.com/kiln-build/kiln/pkg/runtime/python"
)

// Runtimes returns the runtimes kiln builds with.
func Runtimes() []runtime.Runtime {
	return []runtime.Runtime{python.Runtime{}, golang.Runtime{}}
}
