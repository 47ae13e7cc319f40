package layer

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/klauspost/compress/flate"
)

// kiln's gzip. A layer is one gzip member whose deflate stream is cut
// into blocks: the first GzipHeadSize bytes, then GzipBlockSize bytes at a
// time. Each block is compressed on its own at GzipLevel, with the last
// gzipDictSize bytes of the block before it as its dictionary, and ends
// with a sync flush (the last block with the final one). The output thus
// depends only on the input, never on how many cores did the work, and a
// block's bytes depend only on the block and that tail, so the blocks of
// a layer written before can be used again (gzipWriter's keep directory).
//
// The small first block is for binaries: a Go program's build ID sits in
// its first pages and changes with every build, so after an edit that
// leaves the rest of the binary as it was, only 64 KiB are compressed
// again rather than 1 MiB.
const (
	GzipLevel     = flate.BestSpeed
	GzipHeadSize  = 64 << 10
	GzipBlockSize = 1 << 20
	gzipDictSize  = 16 << 10
)

// queuedBlocks bounds the blocks handed to workers but not yet written
// when blocks are kept: those found kept take little work, so many are
// let through while a block ahead of them is compressed, and the caller
// goes on (hashing the layer as it fills blocks) rather than waiting.
const queuedBlocks = 16

// keptBlockVersion is hashed into every kept block's name: a change to
// how blocks are kept makes the old ones unknown (and removed), never
// misread.
const keptBlockVersion = "kiln gzip block 2\x00"

// castagnoli checks kept blocks: it finds a damaged file (a torn write, a
// bad disk) at memory speed. It is no defence against whoever can write
// to .kiln, which no checksum kept beside the data could be.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// gzipWriter writes kiln's gzip. Blocks are compressed (or found kept) on
// up to workers goroutines while the caller fills the next ones, and
// written out in order by one more; their buffers are pooled, so a layer
// costs a few blocks of memory whatever its size.
//
// With a keep directory, every block's output is kept there, named by the
// sha256 of the block, its dictionary and whether it is the last, and
// taken from there when the same block comes again: after a small edit,
// most of a program's binary is the same, and most of its layer is not
// compressed again. The directory holds only the blocks of the last layer
// written into it.
type gzipWriter struct {
	w       io.Writer
	keep    string
	crc     uint32
	size    uint32
	blocks  int     // handed to workers so far
	cur     *[]byte // the block being filled
	tail    []byte
	started bool
	ended   bool // Close or abort ran

	results chan chan blockResult // in order
	done    chan error            // the writer goroutine's end
	sem     chan struct{}         // bounds the blocks being worked on
	mu      sync.Mutex
	used    map[string]bool
}

type blockResult struct {
	out *[]byte // the block's compressed bytes, returned to outPool once written
	err error
}

// blockPool holds input blocks, outPool their compressed bytes.
var blockPool, outPool sync.Pool

func getBuf(p *sync.Pool, size int) *[]byte {
	if b, ok := p.Get().(*[]byte); ok {
		*b = (*b)[:0]
		return b
	}
	b := make([]byte, 0, size)
	return &b
}

// newGzipWriter returns a writer of kiln's gzip to w, compressing on up to
// workers goroutines, keeping blocks in keep unless it is "".
func newGzipWriter(w io.Writer, keep string, workers int) (*gzipWriter, error) {
	queue := 2 * workers
	if keep != "" {
		if err := os.MkdirAll(keep, 0o755); err != nil {
			return nil, err
		}
		queue = max(queue, queuedBlocks)
	}
	z := &gzipWriter{
		w:       w,
		keep:    keep,
		results: make(chan chan blockResult, queue),
		done:    make(chan error, 1),
		sem:     make(chan struct{}, workers),
		used:    map[string]bool{},
		cur:     getBuf(&blockPool, GzipBlockSize),
	}
	go z.writeOut()
	return z, nil
}

// writeOut writes the blocks' outputs in order.
func (z *gzipWriter) writeOut() {
	var err error
	for r := range z.results {
		res := <-r
		if err == nil {
			err = res.err
		}
		if err == nil {
			_, err = z.w.Write(*res.out)
		}
		if res.out != nil {
			outPool.Put(res.out)
		}
	}
	z.done <- err
}

// blockSize is the size of the block being filled.
func (z *gzipWriter) blockSize() int {
	if z.blocks == 0 {
		return GzipHeadSize
	}
	return GzipBlockSize
}

func (z *gzipWriter) Write(p []byte) (int, error) {
	if !z.started {
		z.started = true
		// No name, no time, XFL 4 (fastest), OS unknown.
		if _, err := z.w.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255}); err != nil {
			return 0, err
		}
	}
	n := len(p)
	z.crc = crc32.Update(z.crc, crc32.IEEETable, p)
	z.size += uint32(n)
	for len(p) > 0 {
		cur := *z.cur
		k := min(len(p), z.blockSize()-len(cur))
		*z.cur = append(cur, p[:k]...)
		p = p[k:]
		if len(*z.cur) == z.blockSize() {
			z.flushBlock(false)
		}
	}
	return n, nil
}

// flushBlock hands the current block to a worker.
func (z *gzipWriter) flushBlock(last bool) {
	in, dict := z.cur, z.tail
	block := *in
	if len(block) > gzipDictSize {
		z.tail = bytes.Clone(block[len(block)-gzipDictSize:])
	} else {
		z.tail = nil
	}
	z.cur = getBuf(&blockPool, GzipBlockSize)
	z.blocks++
	r := make(chan blockResult, 1)
	z.results <- r
	z.sem <- struct{}{}
	go func() {
		defer func() { <-z.sem }()
		out, err := z.compress(block, dict, last)
		blockPool.Put(in)
		r <- blockResult{out, err}
	}()
}

// compress returns the output of one block: kept from an earlier layer,
// or compressed (and kept).
func (z *gzipWriter) compress(block, dict []byte, last bool) (*[]byte, error) {
	out := getBuf(&outPool, GzipBlockSize/2)
	var name string
	if z.keep != "" {
		name = keptName(block, dict, last)
		z.mu.Lock()
		z.used[name] = true
		z.mu.Unlock()
		if readBlock(filepath.Join(z.keep, name), out) {
			return out, nil
		}
	}
	buf := bytes.NewBuffer(*out)
	fw, _ := flatePool.Get().(*flate.Writer)
	if fw == nil {
		var err error
		if fw, err = flate.NewWriterDict(buf, GzipLevel, dict); err != nil {
			return nil, err
		}
	} else {
		fw.ResetDict(buf, dict)
	}
	defer flatePool.Put(fw)
	if _, err := fw.Write(block); err != nil {
		return nil, err
	}
	if err := fw.Flush(); err != nil {
		return nil, err
	}
	if last {
		if err := fw.Close(); err != nil {
			return nil, err
		}
	}
	*out = buf.Bytes()
	if z.keep != "" {
		writeBlock(z.keep, name, *out) // a cache: failing to keep it costs the next build a compression
	}
	return out, nil
}

// keptName names a block's output among the kept ones.
func keptName(block, dict []byte, last bool) string {
	h := sha256.New()
	var n [9]byte
	binary.BigEndian.PutUint64(n[:8], uint64(len(dict)))
	if last {
		n[8] = 1
	}
	h.Write([]byte(keptBlockVersion))
	h.Write(n[:])
	h.Write(dict)
	h.Write(block)
	return hex.EncodeToString(h.Sum(nil))
}

// flatePool keeps compressors, which are large, between blocks.
var flatePool sync.Pool

// readBlock reads a kept block into out: the CRC-32C of its data, then
// the data. It reports false for a missing or damaged block.
func readBlock(p string, out *[]byte) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() < 4 || fi.Size() > 2*GzipBlockSize {
		return false
	}
	n := int(fi.Size())
	if cap(*out) < n {
		*out = make([]byte, n)
	}
	data := (*out)[:n]
	if _, err := io.ReadFull(f, data); err != nil {
		return false
	}
	if crc32.Checksum(data[4:], castagnoli) != binary.BigEndian.Uint32(data) {
		return false
	}
	*out = data[:copy(data, data[4:])]
	return true
}

// writeBlock keeps a block under a temporary name, then renames it: the
// checksum in it catches what a crash may leave behind.
func writeBlock(dir, name string, data []byte) {
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.Checksum(data, castagnoli))
	tmp, err := os.CreateTemp(dir, ".tmp-")
	if err != nil {
		return
	}
	_, err = tmp.Write(sum[:])
	if err == nil {
		_, err = tmp.Write(data)
	}
	if cerr := tmp.Close(); err == nil && cerr == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
}

// Close writes the last block and the trailer, and removes the kept
// blocks this layer did not use.
func (z *gzipWriter) Close() error {
	if z.ended {
		return nil
	}
	if !z.started {
		if _, err := z.Write(nil); err != nil {
			return err
		}
	}
	z.flushBlock(true)
	z.ended = true
	close(z.results)
	if err := <-z.done; err != nil {
		return err
	}
	var trailer [8]byte
	binary.LittleEndian.PutUint32(trailer[:4], z.crc)
	binary.LittleEndian.PutUint32(trailer[4:], z.size)
	if _, err := z.w.Write(trailer[:]); err != nil {
		return err
	}
	if z.keep == "" {
		return nil
	}
	entries, err := os.ReadDir(z.keep)
	if err != nil {
		return nil
	}
	for _, e := range entries {
		if !z.used[e.Name()] {
			os.Remove(filepath.Join(z.keep, e.Name()))
		}
	}
	return nil
}

// abort ends a stream that will not be finished (the layer failed): the
// blocks under way are dropped and the goroutines end. After Close it does
// nothing.
func (z *gzipWriter) abort() {
	if z.ended {
		return
	}
	z.ended = true
	close(z.results)
	<-z.done
}
