package layer

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	goruntime "runtime"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/kiln-build/kiln/pkg/blob"
)

// ZstdLevel is pinned: another level gives other bytes, and so other
// digests for the same content. (gzip's settings are in gzip.go.)
const ZstdLevel = zstd.SpeedDefault

// Compression is how layers are compressed.
type Compression string

const (
	// Gzip is understood by every registry and runtime (the default).
	Gzip Compression = "gzip"
	// Zstd decompresses faster and compresses smaller, for registries and
	// runtimes that accept OCI zstd layers (containerd 1.5+, podman 3+).
	Zstd Compression = "zstd"
)

// ParseCompression accepts "", "gzip" and "zstd".
func ParseCompression(s string) (Compression, error) {
	switch Compression(s) {
	case "", Gzip:
		return Gzip, nil
	case Zstd:
		return Zstd, nil
	}
	return "", fmt.Errorf("compression %q is not supported: use gzip (the default) or zstd", s)
}

// Options control how a tree is written.
type Options struct {
	// ModTime is the time of every entry (the source date).
	ModTime time.Time
	// Compression is Gzip when empty.
	Compression Compression
	// Progress, if set, is called with the number of content bytes written.
	Progress func(n int64)
	// Reuse, if set, is a directory that keeps the compressed blocks of
	// the last gzip layer written with it, so that the blocks of the next
	// one that are the same are not compressed again: for a program's
	// binary, rebuilt after an edit. The bytes are the same either way.
	Reuse string
	// Early, if set, is a look at the layer's large private file and at
	// the blocks kept in Reuse, taken before the file was final (Look):
	// what it mapped and checked is used if the file is the one it looked
	// at. The bytes are the same either way.
	Early *Early
}

// compressor wraps w in the chosen compression and names its media type;
// gzip blocks are kept in keep unless it is "". What is written to in
// goes through it, and unless diff is nil, into diff too: the gzip writer
// hashes on a goroutine of its own.
func compressor(w io.Writer, c Compression, keep string, early *Early, diff hash.Hash) (io.WriteCloser, io.Writer, types.MediaType, error) {
	if c == Zstd {
		// One encoder goroutine: the output then depends only on the input.
		zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(ZstdLevel), zstd.WithEncoderConcurrency(1))
		if diff == nil {
			return zw, zw, types.OCILayerZStd, err
		}
		return zw, io.MultiWriter(zw, diff), types.OCILayerZStd, err
	}
	gw, err := newGzipWriter(w, keep, max(2, goruntime.NumCPU()), diff, early)
	return gw, gw, types.OCILayer, err
}

// Write streams t as a gzip-compressed tar into store and returns the
// stored layer. Memory use does not grow with the size of the content.
func Write(ctx context.Context, store blob.Store, t *Tree, opt Options) (*Layer, error) {
	if l := opt.Early.confirm(ctx, store, t, opt); l != nil {
		return l, nil
	}
	w, err := store.Create()
	if err != nil {
		return nil, err
	}
	defer w.Abort()
	// Files mapped for the gzip writer are unmapped once it is done
	// (closed or aborted, below), as its goroutines read them until then.
	var unmaps []func()
	defer unmapAll(&unmaps)
	diff := sha256.New()
	gz, in, mediaType, err := compressor(w, opt.Compression, opt.Reuse, opt.Early, diff)
	if err != nil {
		return nil, err
	}
	z, _ := gz.(*gzipWriter)
	// A layer that fails midway leaves no compressor goroutine behind.
	closed := false
	defer func() {
		if z, ok := gz.(*gzipWriter); ok {
			z.abort()
		} else if !closed {
			gz.Close()
		}
	}()
	tw := tar.NewWriter(in)
	if err := writeEntries(ctx, tw, t, opt, z, &unmaps); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	closed = true
	if err := gz.Close(); err != nil {
		return nil, err
	}
	digest, size, err := w.Commit()
	if err != nil {
		return nil, err
	}
	return &Layer{
		Path:      store.Path(digest),
		digest:    digest,
		diffID:    v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(diff.Sum(nil))},
		size:      size,
		mediaType: mediaType,
	}, nil
}

// writeEntries writes t's entries into tw, as writeEntry does, with the
// look in opt; the files it maps are added to unmaps.
func writeEntries(ctx context.Context, tw *tar.Writer, t *Tree, opt Options, z *gzipWriter, unmaps *[]func()) error {
	mtime := opt.mtime()
	for _, e := range t.sorted() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := writeEntry(ctx, tw, e, mtime, opt.Progress, z, opt.Early, unmaps); err != nil {
			return err
		}
	}
	return nil
}

// mtime is the time of every entry of a layer written with opt.
func (opt Options) mtime() time.Time { return opt.ModTime.UTC().Truncate(time.Second) }

// unmapAll unmaps what *unmaps holds.
func unmapAll(unmaps *[]func()) {
	for _, unmap := range *unmaps {
		unmap()
	}
}

// mapAtLeast is the size from which a private file is mapped for the gzip
// writer rather than read: one block and more, which it then neither
// copies nor buffers (a program's binary, of many megabytes).
const mapAtLeast = GzipBlockSize

// writeEntry writes e into tw. A large private file (Entry.Private) is
// lent to the gzip writer z (if not nil) mapped, its unmapping added to
// unmaps.
func writeEntry(ctx context.Context, tw *tar.Writer, e *Entry, mtime time.Time, progress func(int64), z *gzipWriter, early *Early, unmaps *[]func()) error {
	if err := tw.WriteHeader(tarHeader(e, mtime)); err != nil {
		return fmt.Errorf("writing %s: %w", e.Name, err)
	}
	if e.Type != tar.TypeReg {
		return nil
	}
	if e.Source == "" {
		_, err := tw.Write(e.Data)
		return err
	}
	f, err := os.Open(e.Source)
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", e.Source, unwrapPathError(err))
	}
	defer f.Close()
	if e.Private && e.Size >= mapAtLeast {
		var data []byte
		if fi, err := f.Stat(); err == nil {
			if fi.Size() != e.Size {
				return fmt.Errorf("%s changed while it was being read (%d bytes, expected %d); build again", e.Source, fi.Size(), e.Size)
			}
			data = early.fileFor(fi, e.Size) // mapped by the look, which unmaps it
		}
		if data == nil {
			mapped, unmap, err := mapOpen(f, e.Size)
			if err == nil {
				data = mapped
				*unmaps = append(*unmaps, unmap)
			}
		}
		if data != nil {
			// A block at a time, so that a cancelled build stops soon.
			step := GzipBlockSize
			if z != nil {
				z.lent = data
				defer func() { z.lent = nil }()
			}
			for len(data) > 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
				if z != nil {
					step = z.room()
				}
				k := min(step, len(data))
				if _, err := tw.Write(data[:k]); err != nil {
					return fmt.Errorf("writing %s: %w", e.Source, err)
				}
				data = data[k:]
				if progress != nil {
					progress(int64(k))
				}
			}
			return nil
		}
	}
	n, err := io.Copy(tw, &contextReader{ctx: ctx, r: io.LimitReader(f, e.Size), progress: progress})
	if err != nil {
		return fmt.Errorf("reading %s: %w", e.Source, unwrapPathError(err))
	}
	if n != e.Size {
		return fmt.Errorf("%s changed while it was being read (%d bytes, expected %d); build again", e.Source, n, e.Size)
	}
	// A file that grew would otherwise be cut silently at its old size.
	if k, _ := f.Read(make([]byte, 1)); k > 0 {
		return fmt.Errorf("%s changed while it was being read (more than the expected %d bytes); build again", e.Source, e.Size)
	}
	return nil
}

// tarHeader is e's header in a layer whose entries are all dated mtime.
func tarHeader(e *Entry, mtime time.Time) *tar.Header {
	hdr := &tar.Header{
		Typeflag: e.Type,
		Name:     strings.TrimPrefix(e.Name, "/"),
		Linkname: e.Linkname,
		Mode:     e.Mode,
		Uid:      e.UID,
		Gid:      e.GID,
		ModTime:  mtime,
		Format:   tar.FormatPAX,
	}
	if e.Type == tar.TypeDir {
		hdr.Name += "/"
	}
	if e.Type == tar.TypeReg {
		hdr.Size = e.Size
	}
	return hdr
}

// contextReader stops a long copy when ctx is cancelled and reports progress.
type contextReader struct {
	ctx      context.Context
	r        io.Reader
	progress func(int64)
}

func (c *contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	if c.progress != nil && n > 0 {
		c.progress(int64(n))
	}
	return n, err
}

// Stored describes a layer already stored at path (a base image's, from
// its manifest and config), without reading it.
func Stored(path string, digest, diffID v1.Hash, size int64, mediaType types.MediaType) *Layer {
	return &Layer{Path: path, digest: digest, diffID: diffID, size: size, mediaType: mediaType}
}

// Layer is a layer stored as a file, with its digests known: computed
// while kiln wrote it, or read from a base image's manifest. It implements
// v1.Layer.
type Layer struct {
	Path      string
	digest    v1.Hash
	diffID    v1.Hash
	size      int64
	mediaType types.MediaType
}

var _ v1.Layer = (*Layer)(nil)

// Digest is the sha256 of the compressed bytes.
func (l *Layer) Digest() (v1.Hash, error) { return l.digest, nil }

// DiffID is the sha256 of the uncompressed tar.
func (l *Layer) DiffID() (v1.Hash, error) { return l.diffID, nil }

// Size is the compressed size in bytes.
func (l *Layer) Size() (int64, error) { return l.size, nil }

// MediaType is the OCI gzip layer type.
func (l *Layer) MediaType() (types.MediaType, error) { return l.mediaType, nil }

// Compressed opens the stored blob.
func (l *Layer) Compressed() (io.ReadCloser, error) { return os.Open(l.Path) }

// Uncompressed opens the stored blob and decompresses it.
func (l *Layer) Uncompressed() (io.ReadCloser, error) {
	f, err := os.Open(l.Path)
	if err != nil {
		return nil, err
	}
	switch l.mediaType {
	case types.OCIUncompressedLayer, types.DockerUncompressedLayer:
		return f, nil
	case types.OCILayerZStd:
		zr, err := zstd.NewReader(f)
		if err != nil {
			f.Close()
			return nil, err
		}
		return &readCloser{Reader: zr, close: func() error { zr.Close(); return f.Close() }}, nil
	}
	gz, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &readCloser{Reader: gz, close: func() error { gz.Close(); return f.Close() }}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r *readCloser) Close() error { return r.close() }

// Descriptor returns the layer's OCI descriptor.
func (l *Layer) Descriptor() v1.Descriptor {
	return v1.Descriptor{MediaType: l.mediaType, Digest: l.digest, Size: l.size}
}
