package layer

import "sync"

// bufSize is the capacity of every buffer kiln's gzip works in: a block's
// input, a kept block's input read back to be compared, a block's output
// (deflate makes a 1 MiB block at most a few hundred bytes larger).
const bufSize = GzipBlockSize + 64<<10

// preparedBuffers is how many buffers Prepare readies and the free list
// keeps: what one layer has in flight at most with two workers (14–16,
// counted on a binary layer after an edit).
const preparedBuffers = 16

// free holds buffers between blocks and between layers. Unlike a
// sync.Pool it is not emptied by the garbage collector, so buffers touched
// once stay touched; it keeps at most preparedBuffers (17 MiB), and those
// beyond are left to the collector.
var free = make(chan *[]byte, preparedBuffers)

// getBuf returns an empty buffer of capacity bufSize.
func getBuf() *[]byte {
	select {
	case b := <-free:
		*b = (*b)[:0]
		return b
	default:
		b := make([]byte, 0, bufSize)
		return &b
	}
}

// putBuf gives b back, unless it grew into another array.
func putBuf(b *[]byte) {
	if cap(*b) != bufSize {
		return
	}
	select {
	case free <- b:
	default:
	}
}

var prepare sync.Once

// Prepare readies the buffers the next layers will be compressed in, once
// per process, so that a layer written right after it finds their memory
// touched. The first write to each fresh 4 KiB page costs the kernel a
// fault, about 3 µs on the virtual machines kiln was measured on: some
// 10 ms for a layer's buffers, which a binary layer written after a
// compile would add to the build's wall time. kiln's Go builder calls it
// when a compile starts, in the background, while the compiler works.
func Prepare() {
	prepare.Do(func() {
		for _, b := range touchedBuffers(preparedBuffers, bufSize) {
			putBuf(&b)
		}
	})
}

// heapBuffers returns n empty buffers of capacity size from the Go heap,
// their memory touched.
func heapBuffers(n, size int) [][]byte {
	bufs := make([][]byte, n)
	for i := range bufs {
		b := make([]byte, size)
		touch(b)
		bufs[i] = b[:0]
	}
	return bufs
}

// touch writes to every page of b, so that the kernel backs it now.
func touch(b []byte) {
	for i := 0; i < len(b); i += 4096 {
		b[i] = 0
	}
}
