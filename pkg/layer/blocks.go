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
	goruntime "runtime"
	"sync"
	"time"

	"github.com/klauspost/compress/flate"
)

// blockTail is how much of each block seeds the next one's dictionary,
// as in github.com/klauspost/pgzip.
const blockTail = 16384

// blockGzip writes the same bytes as pgzip at GzipLevel and GzipBlockSize
// (a gzip member whose deflate stream is one sync-flushed segment per
// block, each compressed with the previous block's tail as dictionary), so
// it changes no digest. A block's output depends only on the block and
// that tail, so it keeps each full block's output in dir, named by the
// sha256 of both, and takes it from there when the same block comes again:
// after a small edit, most of a program's binary is the same, and most of
// its layer is not compressed again. dir holds only the blocks of the last
// layer written into it.
type blockGzip struct {
	w       io.Writer
	dir     string
	crc     uint32
	size    uint32
	cur     []byte
	tail    []byte
	started bool

	results chan chan blockResult // in order
	done    chan error            // the writer goroutine's end
	sem     chan struct{}
	mu      sync.Mutex
	used    map[string]bool
}

type blockResult struct {
	data []byte
	err  error
}

func newBlockGzip(w io.Writer, dir string) (*blockGzip, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	z := &blockGzip{
		w:       w,
		dir:     dir,
		results: make(chan chan blockResult, max(2, goruntime.NumCPU())),
		done:    make(chan error, 1),
		sem:     make(chan struct{}, max(2, goruntime.NumCPU())),
		used:    map[string]bool{},
	}
	go z.writeOut()
	return z, nil
}

// writeOut writes the blocks' outputs in order.
func (z *blockGzip) writeOut() {
	var err error
	for r := range z.results {
		res := <-r
		if err == nil {
			err = res.err
		}
		if err == nil {
			_, err = z.w.Write(res.data)
		}
	}
	z.done <- err
}

func (z *blockGzip) Write(p []byte) (int, error) {
	if !z.started {
		z.started = true
		// pgzip's header: no name, the zero time.Time's Unix time cut
		// to 32 bits as the time, XFL 4 (fastest), OS unknown.
		hdr := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255}
		binary.LittleEndian.PutUint32(hdr[4:8], uint32(time.Time{}.Unix()))
		if _, err := z.w.Write(hdr); err != nil {
			return 0, err
		}
	}
	n := len(p)
	z.crc = crc32.Update(z.crc, crc32.IEEETable, p)
	z.size += uint32(n)
	for len(p) > 0 {
		k := min(len(p), GzipBlockSize-len(z.cur))
		z.cur = append(z.cur, p[:k]...)
		p = p[k:]
		if len(z.cur) == GzipBlockSize {
			z.flushBlock(false)
		}
	}
	return n, nil
}

// flushBlock hands the current block to a compressor.
func (z *blockGzip) flushBlock(last bool) {
	block, dict := z.cur, z.tail
	if len(block) > blockTail {
		z.tail = bytes.Clone(block[len(block)-blockTail:])
	} else {
		z.tail = nil
	}
	z.cur = make([]byte, 0, GzipBlockSize)
	r := make(chan blockResult, 1)
	z.results <- r
	z.sem <- struct{}{}
	go func() {
		defer func() { <-z.sem }()
		data, err := z.compress(block, dict, last)
		r <- blockResult{data, err}
	}()
}

// compress returns the output of one block: from dir when a full block
// was seen with the same dictionary, else compressed (and kept).
func (z *blockGzip) compress(block, dict []byte, last bool) ([]byte, error) {
	var name string
	if !last {
		h := sha256.New()
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(dict)))
		h.Write(n[:])
		h.Write(dict)
		h.Write(block)
		name = hex.EncodeToString(h.Sum(nil))
		z.mu.Lock()
		z.used[name] = true
		z.mu.Unlock()
		if data, ok := readBlock(filepath.Join(z.dir, name)); ok {
			return data, nil
		}
	}
	buf := bytes.NewBuffer(make([]byte, 0, len(block)/2))
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
		return buf.Bytes(), nil
	}
	writeBlock(z.dir, name, buf.Bytes()) // a cache: failing to keep it costs the next build a compression
	return buf.Bytes(), nil
}

// flatePool keeps compressors, which are large, between blocks.
var flatePool sync.Pool

// readBlock reads a kept block: the sha256 of its data, then the data.
func readBlock(p string) ([]byte, bool) {
	f, err := os.ReadFile(p)
	if err != nil || len(f) < sha256.Size {
		return nil, false
	}
	if sha256.Sum256(f[sha256.Size:]) != [sha256.Size]byte(f[:sha256.Size]) {
		return nil, false
	}
	return f[sha256.Size:], true
}

// writeBlock keeps a block under a temporary name, then renames it: the
// checksum in it catches what a crash may leave behind.
func writeBlock(dir, name string, data []byte) {
	sum := sha256.Sum256(data)
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
func (z *blockGzip) Close() error {
	if !z.started {
		if _, err := z.Write(nil); err != nil {
			return err
		}
	}
	z.flushBlock(true)
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
	entries, err := os.ReadDir(z.dir)
	if err != nil {
		return nil
	}
	for _, e := range entries {
		if !z.used[e.Name()] {
			os.Remove(filepath.Join(z.dir, e.Name()))
		}
	}
	return nil
}
