package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-build/kiln/pkg/atomicfile"
)

// ErrDirectory says that an archive was to be written onto a directory.
var ErrDirectory = errors.New("is a directory")

// writeArchive writes an archive where it is asked to go:
//
//   - into stream, when set (standard output for "-");
//   - into a FIFO, a character device or a socket-less special file (also
//     reached through a symbolic link, such as /dev/stdout or
//     /proc/self/fd/1) by opening it and streaming, never replacing it;
//   - onto a regular file (or a new one), through atomicfile: a temporary
//     file renamed over it when complete, after removing the temporaries
//     a killed earlier write of the same file left. A symbolic link to a
//     regular file keeps pointing at it: the file it names is replaced.
//     Paths that resolve into /proc or /dev are streamed into instead,
//     as a shell's "> FILE" would;
//   - onto a directory: an error wrapping ErrDirectory, naming it.
//
// A cancelled ctx stops the write (and removes the temporary file).
func writeArchive(ctx context.Context, file string, stream io.Writer, write func(io.Writer) error) error {
	if stream != nil {
		return write(ctxWriter{ctx, stream})
	}
	fi, err := os.Stat(file) // follows links: what the path reaches
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// A new file (or a dangling link, replaced by the file).
	case err != nil:
		return err
	case fi.IsDir():
		return fmt.Errorf("%s %w; name a file for the archive, e.g. %s", file, ErrDirectory, filepath.Join(file, "image.tar"))
	case !fi.Mode().IsRegular() || throughSpecial(file):
		return streamInto(ctx, file, write)
	default:
		if real, err := filepath.EvalSymlinks(file); err == nil {
			file = real
		}
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	atomicfile.CleanStale(file)
	return atomicfile.Write(file, 0o644, func(w io.Writer) error { return write(ctxWriter{ctx, w}) })
}

// throughSpecial reports whether path is, or links to, a process's
// descriptor (/proc/..., /dev/fd/..., /dev/stdout, /dev/stderr): written
// in place, as a shell's "> FILE" would, whatever file it reaches.
func throughSpecial(path string) bool {
	p := filepath.Clean(path)
	for range 40 {
		if strings.HasPrefix(p, "/proc/") || strings.HasPrefix(p, "/dev/fd/") || p == "/dev/stdout" || p == "/dev/stderr" {
			return true
		}
		target, err := os.Readlink(p)
		if err != nil {
			return false
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(p), target)
		}
		p = filepath.Clean(target)
	}
	return false
}

// streamInto opens the existing special file (or file reached through
// /proc or /dev) and writes the archive into it.
func streamInto(ctx context.Context, file string, write func(io.Writer) error) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("opening %s to write the archive into: %w", file, err)
	}
	err = write(ctxWriter{ctx, f})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing the archive into %s: %w", file, err)
	}
	return nil
}

// ctxWriter stops writing once ctx is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
