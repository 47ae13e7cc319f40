// Package runtime defines what a language runtime contributes to an image:
// the layers and settings that make a program run, per platform.
package runtime

import (
	"context"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/pkg/blob"
	"github.com/kiln-build/kiln/pkg/image"
	"github.com/kiln-build/kiln/pkg/layer"
)

// Builder builds one program for a platform.
type Builder interface {
	// Name is the program's name: its binary and default image name.
	Name() string
	// Fingerprint writes to w everything that can change what Build makes
	// for p, so that an unchanged fingerprint means an unchanged image.
	Fingerprint(ctx context.Context, w io.Writer, p v1.Platform) error
	// Build makes the program for p, writing its layers into store.
	Build(ctx context.Context, store blob.Store, p v1.Platform, opt layer.Options) (*Result, error)
}

// Result is what a runtime contributes to one platform's image.
type Result struct {
	Layers     []image.Addendum
	Entrypoint []string
	PathDir    string // added to PATH
	// Env is added to the image's environment, before configured env;
	// WorkingDir replaces the default ("/", or the base's) when set.
	Env        []string
	WorkingDir string
}
