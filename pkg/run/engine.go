package run

import (
	"errors"

	"github.com/kiln-build/kiln/pkg/engine"
)

// ErrPortInUse says that the port asked for, or every port kiln tried,
// is taken.
var ErrPortInUse = errors.New("the port is in use")

// ErrNoEngine is returned when no container engine is installed.
var ErrNoEngine = errors.New("kiln run needs podman or docker to run the image, and neither is installed (not found on PATH): " +
	"install one of them (e.g. apt-get install podman), or run the program directly on this machine")

// FindEngine finds the engine kiln run uses: name, or the first installed.
func FindEngine(name string, env []string) (*engine.Engine, error) {
	e, err := engine.Find(name, env)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, ErrNoEngine
	}
	return e, err
}
