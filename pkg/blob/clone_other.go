//go:build !linux

package blob

import (
	"errors"
	"os"
)

func clone(dst, src *os.File) error { return errors.ErrUnsupported }
