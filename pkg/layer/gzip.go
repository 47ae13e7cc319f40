package layer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

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

// keptMagic starts every kept block: a change to how blocks are kept
// makes the old ones unknown (and replaced), never misread.
const keptMagic = "kiln gzip block 4\x00"

// castagnoli checks kept blocks' compressed bytes: it finds a damaged file
// (a torn write, a bad disk) at memory speed. The input beside them needs
// no checksum: it is compared with the block whole.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// gzipWriter writes kiln's gzip. Blocks are compressed (or found kept) on
// up to workers goroutines while the caller fills the next ones, and
// written out in order by one more; their buffers are kept for reuse
// (buffers.go), so a layer costs a few blocks of memory whatever its size.
//
// With a keep directory, every block is kept there, by its place in the
// stream: its input (with its dictionary) and its output. A block whose
// input is byte for byte the one kept in its place takes the kept output:
// after a small edit, most of a program's binary is the same, and most of
// its layer is not compressed again. Comparing the input itself, rather
// than a hash of it, is both cheaper (memory speed, where sha256 was a
// third of the layer's time) and exact: no crafted input can pass for
// another. The directory holds only the blocks of the last layer written
// into it.
//
// No byte is copied that need not be: a kept block's file is mapped, its
// input compared and its output written where they lie in the page cache,
// and a large private file (a program kiln compiled) is lent mapped, its
// whole blocks used where they lie (writeEntry). Fresh memory is dear on
// a virtual machine, every first touch of a page a fault.
type gzipWriter struct {
	w       io.Writer
	keep    string
	early   *Early    // a look at the kept blocks taken before, or nil
	crc     uint32    // of the input, joined block by block by the writer
	sum     hash.Hash // of the input too, if asked, by the summer
	size    uint32
	blocks  int     // handed to workers so far
	cur     *[]byte // the block being filled
	tail    []byte
	started bool
	ended   bool // Close or abort ran
	// lent is set while Write is given bytes from it, which stay as they
	// are until Close (a mapped file): whole blocks of them are used where
	// they lie.
	lent []byte
	// lendAll says every Write's bytes stay as they are until Close.
	lendAll bool
	// changed is set when a lent file was cut short under its mapping.
	changed atomic.Bool

	results chan chan blockResult // in order
	done    chan error            // the writer goroutine's end
	sums    chan *inputBlock      // to the summer, in order
	summed  chan struct{}         // closed at the summer's end
	sem     chan struct{}         // bounds the blocks being worked on
	// compressed counts the blocks compressed rather than found kept.
	compressed atomic.Int64
}

// inputBlock is a block's input, shared by the worker that compresses it
// and the summer that hashes it: the last to finish gives its buffer back
// (a lent block has none).
type inputBlock struct {
	data []byte
	buf  *[]byte
	refs atomic.Int32
}

func (b *inputBlock) release() {
	if b.refs.Add(-1) == 0 && b.buf != nil {
		putBuf(b.buf)
	}
}

// errChanged is what a fault in lent bytes becomes.
var errChanged = errors.New("a file changed while its layer was written (it was cut short); build again")

// summedBlocks bounds the blocks filled but not yet hashed: the summer
// hashes at about the speed the caller fills blocks, and each copied
// block waiting holds a buffer (with 4 rather than 2, kiln's peak memory
// writing a 1 GiB data layer went from 65 to 82 MiB; bench/bigdata.sh).
const summedBlocks = 2

type blockResult struct {
	out     []byte // the block's compressed bytes
	release func() // gives out back once it is written
	crc     uint32 // the CRC-32 of the block's input
	n       int    // the size of the block's input
	err     error
}

// newGzipWriter returns a writer of kiln's gzip to w, compressing on up to
// workers goroutines, keeping blocks in keep unless it is "". The input's
// CRC (for the trailer) and, unless sum is nil, its hash (a layer's
// diffID) are computed on a goroutine of their own, the summer, so that
// the caller only fills blocks: hashing is the largest part of writing a
// layer whose blocks are kept, and it then runs beside the reading.
func newGzipWriter(w io.Writer, keep string, workers int, sum hash.Hash, early *Early) (*gzipWriter, error) {
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
		early:   early,
		results: make(chan chan blockResult, queue),
		done:    make(chan error, 1),
		sem:     make(chan struct{}, workers),
		cur:     getBuf(),
		sum:     sum,
		sums:    make(chan *inputBlock, summedBlocks),
		summed:  make(chan struct{}),
	}
	go z.writeOut()
	go z.summer()
	return z, nil
}

// summer hashes the blocks' input in order.
func (z *gzipWriter) summer() {
	defer close(z.summed)
	for b := range z.sums {
		if z.sum != nil && faulted(func() { z.sum.Write(b.data) }) {
			z.changed.Store(true)
		}
		b.release()
	}
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
			err = z.writeBlock(res.out)
			z.crc = crc32Combine(z.crc, res.crc, int64(res.n))
		}
		if res.release != nil {
			res.release()
		}
	}
	z.done <- err
}

// writeBlock writes a block's output, which may be a kept file's mapped
// bytes: a file cut short under the mapping since it was checked (by
// another program: kiln replaces kept files whole) is an error here
// rather than a crash.
func (z *gzipWriter) writeBlock(out []byte) (err error) {
	if faulted(func() { _, err = z.w.Write(out) }) {
		return errors.New("a kept block was cut short while it was written; build again")
	}
	return err
}

// faulted runs f and reports whether it touched memory that faults (a
// mapped file cut short under it), recovering from the fault; any other
// panic goes on.
func faulted(f func()) (fault bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(interface{ Addr() uintptr }); !ok {
				panic(r)
			}
			fault = true
		}
	}()
	f()
	return false
}

// within reports whether p lies in lent: the tar writer passes file
// content through as it was given, and a copy of it, made by a writer in
// between, would not stay as it is.
func within(p, lent []byte) bool {
	if len(p) == 0 || len(lent) == 0 {
		return false
	}
	base, at := uintptr(unsafe.Pointer(unsafe.SliceData(lent))), uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	return at >= base && at-base+uintptr(len(p)) <= uintptr(len(lent))
}

// room is how many bytes the block being filled takes before it is full:
// a whole block when none is under way.
func (z *gzipWriter) room() int { return z.blockSize() - len(*z.cur) }

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
	z.size += uint32(n)
	for len(p) > 0 {
		if len(*z.cur) == 0 && len(p) >= z.blockSize() && (z.lendAll || within(p, z.lent)) {
			// A whole block of lent bytes: no copy. The blocks are cut
			// where they would be otherwise, so the bytes are the same.
			k := z.blockSize()
			z.handOut(p[:k], nil, false)
			p = p[k:]
			continue
		}
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
	in := z.cur
	z.cur = getBuf()
	z.handOut(*in, in, last)
}

// handOut hands block to the summer and a worker; buf, if not nil, is the
// buffer that holds it, given back when both are done.
func (z *gzipWriter) handOut(block []byte, buf *[]byte, last bool) {
	dict := z.tail
	if len(block) > gzipDictSize {
		z.tail = bytes.Clone(block[len(block)-gzipDictSize:])
	} else {
		z.tail = nil
	}
	index := z.blocks
	z.blocks++
	shared := &inputBlock{data: block, buf: buf}
	shared.refs.Store(2)
	z.sums <- shared
	r := make(chan blockResult, 1)
	z.results <- r
	z.sem <- struct{}{}
	go func() {
		defer func() { <-z.sem }()
		var res blockResult
		if faulted(func() { res = z.compress(index, block, dict, last) }) {
			z.changed.Store(true)
			res = blockResult{err: errChanged}
		}
		shared.release()
		r <- res
	}()
}

// compress returns the output of the index-th block: kept from an earlier
// layer, or compressed (and kept).
func (z *gzipWriter) compress(index int, block, dict []byte, last bool) blockResult {
	kept := ""
	if z.keep != "" {
		kept = filepath.Join(z.keep, strconv.Itoa(index))
		if k, found, looked := z.early.keptAt(z.keep, index); looked {
			// The look mapped and checked the kept blocks already (and
			// owns their mappings); only the input is left to compare. A
			// kept file cut short since is a miss, as in readKept.
			hit := false
			if found && !faulted(func() { hit = k.holds(block, dict, last) }) && hit {
				return blockResult{out: k.out, crc: k.crc, n: len(block)}
			}
		} else if k, release, ok := readKept(kept, block, dict, last); ok {
			return blockResult{out: k.out, release: release, crc: k.crc, n: len(block)}
		}
	}
	z.compressed.Add(1)
	out := getBuf()
	release := func() { putBuf(out) }
	buf := bytes.NewBuffer(*out)
	fw, err := getFlate(buf, dict)
	if err != nil {
		return blockResult{err: err, release: release}
	}
	defer flatePool.Put(fw)
	if _, err := fw.Write(block); err != nil {
		return blockResult{err: err, release: release}
	}
	if err := fw.Flush(); err != nil {
		return blockResult{err: err, release: release}
	}
	if last {
		if err := fw.Close(); err != nil {
			return blockResult{err: err, release: release}
		}
	}
	*out = buf.Bytes()
	crc := crc32.ChecksumIEEE(block)
	if kept != "" {
		writeKept(kept, block, dict, last, crc, *out) // a cache: failing to keep it costs the next build a compression
	}
	return blockResult{out: *out, release: release, crc: crc, n: len(block)}
}

// flatePool keeps compressors, which are large, between blocks.
var flatePool sync.Pool

// getFlate returns a compressor writing to w with dict, from flatePool
// if it has one; put it back there once done.
func getFlate(w io.Writer, dict []byte) (*flate.Writer, error) {
	if fw, _ := flatePool.Get().(*flate.Writer); fw != nil {
		fw.ResetDict(w, dict)
		return fw, nil
	}
	return flate.NewWriterDict(w, GzipLevel, dict)
}

// A kept block is keptMagic, then a header: whether it is the last block
// (1 byte), the sizes of its dictionary, input and output and the CRC-32
// of its input (the gzip trailer's, joined block by block; 4 bytes each,
// big-endian), and a CRC-32C of its output and of that CRC; then the
// dictionary, the input and the output.
const keptHeaderSize = len(keptMagic) + 1 + 5*4

func keptHeader(dict, block, out []byte, last bool, crc uint32) []byte {
	h := make([]byte, 0, keptHeaderSize)
	h = append(h, keptMagic...)
	if last {
		h = append(h, 1)
	} else {
		h = append(h, 0)
	}
	h = binary.BigEndian.AppendUint32(h, uint32(len(dict)))
	h = binary.BigEndian.AppendUint32(h, uint32(len(block)))
	h = binary.BigEndian.AppendUint32(h, uint32(len(out)))
	h = binary.BigEndian.AppendUint32(h, crc)
	return binary.BigEndian.AppendUint32(h, keptChecksum(out, h[len(h)-4:]))
}

// keptChecksum checks a kept block's output and the CRC kept with it.
func keptChecksum(out, crc []byte) uint32 {
	return crc32.Update(crc32.Checksum(out, castagnoli), castagnoli, crc)
}

// readKept returns the output kept at p if its input there is block with
// dict, as the last block or not, and a function that gives it back once
// it is written. It reports false for another input and for a missing or
// damaged file. The file is mapped, not read: the input is compared and
// the output written where they lie in the page cache, with no copy and
// no buffer to fill.
func readKept(p string, block, dict []byte, last bool) (k keptBlock, release func(), ok bool) {
	return mapKept(p, keptHeaderSize+len(dict)+len(block)+2*GzipBlockSize, func(k keptBlock) bool { return k.holds(block, dict, last) })
}

// mapKept maps the kept block at p, if it holds at most limit bytes, its
// header and checksum hold and use, given its parts, accepts it; release
// unmaps it. A file cut short under the mapping faults: a miss, not a
// crash.
func mapKept(p string, limit int, use func(keptBlock) bool) (k keptBlock, release func(), ok bool) {
	data, unmap, err := mapFile(p, limit)
	if err != nil {
		return keptBlock{}, nil, false
	}
	if faulted(func() { k, ok = parseKept(data); ok = ok && use(k) }) || !ok {
		unmap()
		return keptBlock{}, nil, false
	}
	return k, unmap, true
}

// keptIndex is the number a kept block's file name is written as, if it
// is one.
func keptIndex(name string) (int, bool) {
	i, err := strconv.Atoi(name)
	return i, err == nil && strconv.Itoa(i) == name
}

// keptBlock is a kept block's parts, as parseKept found them.
type keptBlock struct {
	dict, in, out []byte
	last          bool
	crc           uint32 // of in
}

// parseKept splits the kept block data into its parts, if its header is
// kiln's and its output's checksum holds.
func parseKept(data []byte) (keptBlock, bool) {
	if len(data) < keptHeaderSize {
		return keptBlock{}, false
	}
	h, rest := data[:keptHeaderSize], data[keptHeaderSize:]
	fields := h[len(keptMagic)+1:]
	d, n, o := binary.BigEndian.Uint32(fields[0:4]), binary.BigEndian.Uint32(fields[4:8]), binary.BigEndian.Uint32(fields[8:12])
	if string(h[:len(keptMagic)]) != keptMagic || uint64(len(rest)) != uint64(d)+uint64(n)+uint64(o) {
		return keptBlock{}, false
	}
	k := keptBlock{dict: rest[:d], in: rest[d : d+n], out: rest[d+n:], last: h[len(keptMagic)] == 1, crc: binary.BigEndian.Uint32(fields[12:16])}
	if keptChecksum(k.out, fields[12:16]) != binary.BigEndian.Uint32(fields[16:20]) {
		return keptBlock{}, false
	}
	return k, true
}

// holds reports whether k was kept for the input block with dict, as the
// last block or not: byte for byte.
func (k keptBlock) holds(block, dict []byte, last bool) bool {
	return k.last == last && bytes.Equal(k.dict, dict) && bytes.Equal(k.in, block)
}

// writeKept keeps a block at p: written under a temporary name, then
// renamed, with the checksum in it to catch what a crash may leave behind.
func writeKept(p string, block, dict []byte, last bool, crc uint32, out []byte) {
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-")
	if err != nil {
		return
	}
	for _, b := range [][]byte{keptHeader(dict, block, out, last, crc), dict, block, out} {
		if err == nil {
			_, err = tmp.Write(b)
		}
	}
	if cerr := tmp.Close(); err == nil && cerr == nil {
		err = os.Rename(tmp.Name(), p)
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
	close(z.sums)
	close(z.results)
	<-z.summed
	if err := <-z.done; err != nil {
		return err
	}
	if z.changed.Load() {
		return errChanged
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
		if i, ok := keptIndex(e.Name()); !ok || i >= z.blocks {
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
	close(z.sums)
	close(z.results)
	<-z.summed
	<-z.done
}
