package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	goruntime "runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/pkg/blob"
)

// The go command does not leave a Go program as the linker wrote it: it
// hashes it whole and writes the hash into its build ID, in its first
// page, just before it moves it into place. Until then the layer's
// stream is not final from its first bytes on, and its hashes (the
// diffID of the whole stream, the digest of the compressed one) take
// milliseconds a megabyte. So the look predicts the layer
// (Predict): the program as the linker wrote it, with what the go
// command will write into it (a Stamper), is written as the layer while
// the go command works, but not put into the store; Write then compares
// the final stream with the predicted one, at memory speed, and takes the
// predicted layer only if the two are byte for byte the same (a layer's
// bytes follow from its stream alone); otherwise it writes the layer as
// it would have without a look.
//
// The predicted stream must stay as it was written: each of its blocks is
// either the input of a kept block (a file kiln replaces whole, never
// writes in place, mapped by the look), where the program's bytes are
// those, or a copy.

// A Patch is bytes written into a file in place, at At.
type Patch struct {
	At    int
	Bytes []byte
}

// A Stamper tells, from a file as the look found it, what will be written
// into it in place before it is final. It may be wrong, and the file may
// change under it (it is mapped): a wrong prediction only costs Write the
// hashing it would have done anyway.
type Stamper func(file []byte) ([]Patch, error)

// maxCopied bounds the bytes a prediction copies (the blocks no kept
// input holds): beyond, it would take longer than the hashing it saves.
const maxCopied = 4 << 20

// prediction is a layer written from its stream as the look expects it,
// block by block, but not yet put into its store.
type prediction struct {
	blocks  [][]byte
	store   blob.Store
	pending *blob.Writer
	diffID  []byte
}

// predictRequest is what Predict was given.
type predictRequest struct {
	store blob.Store
	t     *Tree
	opt   Options
	stamp Stamper
}

// Predict is Look at t's large private file (added with AddPrivateFile,
// not yet final; a tree with several predicts nothing) and at the blocks
// kept in opt.Reuse, which also predicts t's layer, written with opt,
// into store: stamp tells what will be written into the file before it
// is final. Pass the result to Write in Options.Early, and Close it once
// Write has returned.
func Predict(ctx context.Context, store blob.Store, t *Tree, opt Options, stamp Stamper) *Early {
	var paths []string
	for _, e := range t.sorted() {
		if e.Private && e.Size >= mapAtLeast {
			paths = append(paths, e.Source)
		}
	}
	if len(paths) != 1 {
		return look(ctx, "", opt.Reuse, nil)
	}
	return look(ctx, paths[0], opt.Reuse, &predictRequest{store: store, t: t, opt: opt, stamp: stamp})
}

// predict writes the layer pr asks for, as the file will be, but does
// not put it into the store; nil if it cannot.
func (e *Early) predict(ctx context.Context, pr *predictRequest) *prediction {
	if e.file == nil || ctx.Err() != nil || pr.opt.Compression == Zstd {
		return nil
	}
	var patches []Patch
	var err error
	if faulted(func() { patches, err = pr.stamp(e.file) }) || err != nil {
		return nil
	}
	before, after, ok := streamAround(pr.t, pr.opt, e.file)
	if !ok {
		return nil
	}
	blocks, ok := e.predictBlocks(before, after, patches)
	if !ok || ctx.Err() != nil {
		return nil
	}
	return writePredicted(pr.store, e, blocks)
}

// writePredicted writes the layer whose stream is blocks into store, not
// committed; nil if it cannot.
func writePredicted(store blob.Store, e *Early, blocks [][]byte) *prediction {
	w, err := store.Create()
	if err != nil {
		return nil
	}
	diff := sha256.New()
	z, err := newGzipWriter(w, e.keep, max(2, goruntime.NumCPU()), diff, e)
	if err != nil {
		w.Abort()
		return nil
	}
	z.lendAll = true // the blocks stay as they are
	for _, b := range blocks {
		z.Write(b)
	}
	if err := z.Close(); err != nil {
		w.Abort()
		return nil
	}
	return &prediction{blocks: blocks, store: store, pending: w, diffID: diff.Sum(nil)}
}

// confirm returns the predicted layer, put into store, if t written with
// opt is byte for byte the stream predicted; otherwise nil, and the
// predicted layer is dropped. It waits for the prediction.
func (e *Early) confirm(ctx context.Context, store blob.Store, t *Tree, opt Options) *Layer {
	if e == nil {
		return nil
	}
	p := e.takePrediction()
	if p == nil {
		return nil
	}
	defer p.pending.Abort() // after Commit, nothing
	if p.store.Dir != store.Dir || opt.Compression == Zstd {
		return nil
	}
	c := &comparer{blocks: p.blocks}
	tw := tar.NewWriter(c)
	var unmaps []func()
	defer unmapAll(&unmaps)
	opt.Early = e
	if err := writeEntries(ctx, tw, t, opt, nil, &unmaps); err != nil {
		return nil
	}
	if err := tw.Close(); err != nil || !c.whole() {
		return nil
	}
	digest, size, err := p.pending.Commit()
	if err != nil {
		return nil
	}
	e.taken.Store(true)
	return &Layer{
		Path:      store.Path(digest),
		digest:    digest,
		diffID:    v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(p.diffID)},
		size:      size,
		mediaType: types.OCILayer,
	}
}

// Predicted reports whether Write took the layer the look predicted.
func (e *Early) Predicted() bool { return e != nil && e.taken.Load() }

// comparer compares what is written to it with a stream given in blocks,
// failing at the first byte that differs.
type comparer struct {
	blocks [][]byte
	i, off int
}

var errMismatch = errors.New("not the predicted stream")

func (c *comparer) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if c.i == len(c.blocks) {
			return 0, errMismatch
		}
		b := c.blocks[c.i][c.off:]
		k := min(len(b), len(p))
		same := false
		if faulted(func() { same = bytes.Equal(p[:k], b[:k]) }) || !same {
			return 0, errMismatch
		}
		p, c.off = p[k:], c.off+k
		if c.off == len(c.blocks[c.i]) {
			c.i, c.off = c.i+1, 0
		}
	}
	return n, nil
}

// whole reports whether the whole stream was written (a write of
// anything else failed).
func (c *comparer) whole() bool { return c.i == len(c.blocks) && c.off == 0 }

// streamAround returns the bytes of t's tar stream before and after the
// content of its entry whose content is file (mapped: never read here).
// It reports false if t has other content to read (files on disk). It
// cannot use writeEntries: the file is not yet at its entry's path (the
// go command moves it there later).
func streamAround(t *Tree, opt Options, file []byte) (before, after []byte, ok bool) {
	rec := &recorder{file: file}
	tw := tar.NewWriter(rec)
	mtime := opt.mtime()
	for _, e := range t.sorted() {
		if err := tw.WriteHeader(tarHeader(e, mtime)); err != nil {
			return nil, nil, false
		}
		switch {
		case e.Type != tar.TypeReg:
		case e.Source == "":
			if _, err := tw.Write(e.Data); err != nil {
				return nil, nil, false
			}
		case e.Private && e.Size == int64(len(file)) && !rec.seen:
			// The tar writer passes content through as given.
			if _, err := tw.Write(file); err != nil {
				return nil, nil, false
			}
		default:
			return nil, nil, false
		}
	}
	if err := tw.Close(); err != nil || !rec.seen {
		return nil, nil, false
	}
	return rec.before.Bytes(), rec.after.Bytes(), true
}

// recorder keeps what a tar writer writes, but for the bytes of file.
type recorder struct {
	file          []byte
	seen          bool
	before, after bytes.Buffer
}

func (r *recorder) Write(p []byte) (int, error) {
	switch {
	case within(p, r.file):
		r.seen = true
	case r.seen:
		r.after.Write(p)
	default:
		r.before.Write(p)
	}
	return len(p), nil
}

// predictBlocks cuts the stream before, the file with patches, after into
// gzip blocks: for each, the kept input where it holds the file's bytes,
// else a copy.
func (e *Early) predictBlocks(before, after []byte, patches []Patch) ([][]byte, bool) {
	for _, p := range patches {
		if p.At < 0 || p.At+len(p.Bytes) > len(e.file) {
			return nil, false
		}
	}
	n := len(before) + len(e.file) + len(after)
	fileAt, fileEnd := len(before), len(before)+len(e.file)
	patched := func(s, end int) bool {
		for _, p := range patches {
			if fileAt+p.At < end && fileAt+p.At+len(p.Bytes) > s {
				return true
			}
		}
		return false
	}
	var blocks [][]byte
	copied := 0
	for i, s := 0, 0; s < n; i++ {
		end := min(n, s+GzipBlockSize)
		if i == 0 {
			end = min(n, GzipHeadSize)
		}
		if k, ok := e.kept[i]; ok && s >= fileAt && end <= fileEnd && len(k.in) == end-s && !patched(s, end) {
			same := false
			if !faulted(func() { same = bytes.Equal(k.in, e.file[s-fileAt:end-fileAt]) }) && same {
				blocks = append(blocks, k.in)
				s = end
				continue
			}
		}
		if copied += end - s; copied > maxCopied {
			return nil, false
		}
		b := make([]byte, 0, end-s)
		if faulted(func() { b = appendStream(b, s, end, before, e.file, after) }) {
			return nil, false
		}
		for _, p := range patches {
			// The patch's bytes that fall in [s, end).
			from, to := max(fileAt+p.At, s), min(fileAt+p.At+len(p.Bytes), end)
			if from < to {
				copy(b[from-s:to-s], p.Bytes[from-fileAt-p.At:])
			}
		}
		blocks = append(blocks, b)
		s = end
	}
	return blocks, true
}

// appendStream appends the bytes [s, end) of the stream parts... to b.
func appendStream(b []byte, s, end int, parts ...[]byte) []byte {
	at := 0
	for _, p := range parts {
		from, to := max(s, at), min(end, at+len(p))
		if from < to {
			b = append(b, p[from-at:to-at]...)
		}
		at += len(p)
	}
	return b
}
