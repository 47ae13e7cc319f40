package base

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"

	"github.com/kiln-build/kiln/pkg/layer"
)

func diffIDOf(l *layer.Layer) v1.Hash {
	h, _ := l.DiffID()
	return h
}

// diffCheck decompresses a layer as it is written to it and checks, on
// Close, that the bytes are of the media type's compression and that the
// uncompressed tar hashes to the diff_id the image's config names. A zero
// diffID checks nothing.
type diffCheck struct {
	pw   *io.PipeWriter
	done chan error
}

func newDiffCheck(mt types.MediaType, diffID v1.Hash) io.WriteCloser {
	if diffID == (v1.Hash{}) {
		return nopCheck{}
	}
	pr, pw := io.Pipe()
	c := &diffCheck{pw: pw, done: make(chan error, 1)}
	go func() {
		err := check(pr, mt, diffID)
		io.Copy(io.Discard, pr) // keep the download flowing after a failure
		c.done <- err
	}()
	return c
}

func check(r io.Reader, mt types.MediaType, diffID v1.Hash) error {
	var tarStream io.Reader
	switch mt {
	case types.OCILayer, types.DockerLayer:
		gz, err := gzip.NewReader(r)
		if err != nil {
			return fmt.Errorf("its media type %s says gzip, but its bytes are not gzip data (%v)", mt, err)
		}
		defer gz.Close()
		tarStream = gz
	case types.OCILayerZStd:
		zr, err := zstd.NewReader(r)
		if err != nil {
			return err
		}
		defer zr.Close()
		tarStream = zr
	case types.OCIUncompressedLayer, types.DockerUncompressedLayer:
		tarStream = r
	default:
		return nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, tarStream); err != nil {
		return fmt.Errorf("its %s content cannot be decompressed: %v", mt, err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != diffID.String() {
		return fmt.Errorf("it decompresses to %s, but the image's config says its diff_id is %s: the base image is inconsistent", got, diffID)
	}
	return nil
}

func (c *diffCheck) Write(p []byte) (int, error) {
	// A failed check still drains the pipe, so writes never block; its
	// error is reported by Close.
	return c.pw.Write(p)
}

func (c *diffCheck) Close() error {
	c.pw.Close()
	return <-c.done
}

type nopCheck struct{}

func (nopCheck) Write(p []byte) (int, error) { return len(p), nil }
func (nopCheck) Close() error                { return nil }
