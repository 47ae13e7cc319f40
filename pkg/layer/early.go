package layer

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// Early is a look at a layer's large private file before it is final, and
// at the blocks kept for it: a program the linker has just written, which
// the go command then reads whole to stamp it with its build ID before it
// moves it into place (milliseconds of one core, while the other is idle).
// Meanwhile Early maps the file and the kept blocks, checks the kept
// blocks' outputs against their checksums, and brings their pages in, so
// that once the file is final Write only compares and hashes; or, made by
// Predict, it writes the whole layer of the file as it will be, which
// Write then only compares. Nothing is taken on trust from the look:
// Write compares every block's final bytes with the kept input, or the
// whole final stream with the predicted one.
type Early struct {
	keep string
	done chan struct{}

	// Set by the look, read once done is closed.
	file     []byte // the file, mapped; nil if it could not be
	dev, ino uint64
	kept     map[int]keptBlock // by place, those whose checksum holds
	unmaps   []func()

	// Set by the prediction (Predict), which closes predictDone once it
	// is done (nil if none was asked for).
	predictDone chan struct{}
	mu          sync.Mutex
	predicted   *prediction // taken by Write, or dropped by Settle
	taken       atomic.Bool // Write took it
}

// Look starts looking at the file at path and at the blocks kept in keep
// (Options.Reuse), in the background; ctx stops it. Pass the result to
// Write in Options.Early, and Close it once Write has returned.
func Look(ctx context.Context, path, keep string) *Early {
	return look(ctx, path, keep, nil)
}

// look is Look, which also predicts the layer if asked (Predict).
func look(ctx context.Context, path, keep string, pr *predictRequest) *Early {
	e := &Early{keep: keep, done: make(chan struct{}), kept: map[int]keptBlock{}}
	if pr == nil {
		go func() {
			defer close(e.done)
			e.lookAtKept(ctx, true)
			e.lookAtFile(ctx, path, true)
			warmCompressor()
		}()
		return e
	}
	// Predicting reads every page anyway, and writes the layer: nothing
	// is brought in, nor readied, ahead of it.
	e.predictDone = make(chan struct{})
	go func() {
		defer close(e.predictDone)
		func() {
			defer close(e.done)
			e.lookAtKept(ctx, false)
			e.lookAtFile(ctx, path, false)
		}()
		e.predicted = e.predict(ctx, pr)
	}()
	return e
}

// lookAtKept maps the kept blocks whose checksums hold, and brings
// their inputs' pages in if asked.
func (e *Early) lookAtKept(ctx context.Context, bringIn bool) {
	entries, err := os.ReadDir(e.keep)
	if err != nil {
		return
	}
	for _, ent := range entries {
		i, ok := keptIndex(ent.Name())
		if !ok || i < 0 || ctx.Err() != nil {
			continue
		}
		k, unmap, ok := mapKept(filepath.Join(e.keep, ent.Name()), keptHeaderSize+gzipDictSize+3*GzipBlockSize, func(k keptBlock) bool {
			if bringIn {
				touch(k.in)
			}
			return true
		})
		if ok {
			e.kept[i], e.unmaps = k, append(e.unmaps, unmap)
		}
	}
}

// lookAtFile maps the file at path, and brings its pages in if asked.
func (e *Early) lookAtFile(ctx context.Context, path string, bringIn bool) {
	if ctx.Err() != nil {
		return
	}
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return
	}
	dev, ino, ok := fileID(fi)
	if !ok {
		return
	}
	data, unmap, err := mapOpen(f, fi.Size())
	if err != nil {
		return
	}
	e.unmaps = append(e.unmaps, unmap)
	if !bringIn || !faulted(func() { touch(data) }) {
		e.file, e.dev, e.ino = data, dev, ino
	}
}

// keptAt returns the kept block at place i, if the look found one, and
// whether the look covered keep at all.
func (e *Early) keptAt(keep string, i int) (k keptBlock, found, looked bool) {
	if e == nil || keep != e.keep {
		return keptBlock{}, false, false
	}
	<-e.done
	k, found = e.kept[i]
	return k, found, true
}

// fileFor returns the look's mapping of the file fi describes, if it
// looked at this very file (the same inode, now renamed into place) and
// it has size bytes.
func (e *Early) fileFor(fi os.FileInfo, size int64) []byte {
	if e == nil {
		return nil
	}
	<-e.done
	if e.file == nil || fi.Size() != size || int64(len(e.file)) != size {
		return nil
	}
	if dev, ino, ok := fileID(fi); !ok || dev != e.dev || ino != e.ino {
		return nil
	}
	return e.file
}

// Settle waits for the look to end, and removes the layer it predicted
// (Predict) unless Write took it: nothing is written into the store
// after. Close settles too.
func (e *Early) Settle() {
	if e == nil {
		return
	}
	<-e.done
	if p := e.takePrediction(); p != nil {
		p.pending.Abort()
	}
}

// takePrediction waits for the prediction, if one was asked for, and
// takes the layer it wrote: nil if there is none, or it was taken.
func (e *Early) takePrediction() *prediction {
	if e.predictDone == nil {
		return nil
	}
	<-e.predictDone
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.predicted
	e.predicted = nil
	return p
}

// Close waits for the look to end and unmaps what it mapped. Call it only
// once nothing uses the layer's writing any more (Write has returned).
func (e *Early) Close() {
	if e == nil {
		return
	}
	e.Settle()
	for _, unmap := range e.unmaps {
		unmap()
	}
	e.unmaps, e.file, e.kept = nil, nil, nil
}

// warmCompressor readies a compressor and a buffer for the blocks Write
// will compress (the first, with the build ID, always changes): a new
// compressor's tables and a new buffer are fresh memory, whose first
// touch costs a fault a page.
func warmCompressor() {
	in, out := getBuf(), getBuf()
	defer putBuf(in)
	defer putBuf(out)
	// Varied bytes, so that their hashes reach every page of the
	// compressor's tables.
	*in = (*in)[:GzipHeadSize]
	x := uint32(1)
	for i := range *in {
		x = x*1664525 + 1013904223
		(*in)[i] = byte(x >> 24)
	}
	fw, err := getFlate(bytes.NewBuffer(*out), nil)
	if err != nil {
		return
	}
	fw.Write(*in)
	fw.Flush()
	flatePool.Put(fw)
}

// touchSink keeps touch's reads from being optimised away.
var touchSink atomic.Uint32

// touch reads a byte of every page of b, bringing the pages in.
func touch(b []byte) {
	var s byte
	for i := 0; i < len(b); i += 4096 {
		s += b[i]
	}
	if len(b) > 0 {
		s += b[len(b)-1]
	}
	touchSink.Store(uint32(s))
}
