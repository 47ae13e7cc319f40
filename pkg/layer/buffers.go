package layer

// bufSize is the capacity of every buffer kiln's gzip works in: a block's
// input (when it is not a mapped file's), a block's compressed output
// (deflate makes a 1 MiB block at most a few hundred bytes larger).
const bufSize = GzipBlockSize + 64<<10

// freeBuffers is how many buffers the free list keeps.
const freeBuffers = 8

// free holds buffers between blocks and between layers. Unlike a
// sync.Pool it is not emptied by the garbage collector: the first write
// to each fresh page of memory costs the kernel a fault (about 3 µs on the
// virtual machines kiln was measured on, 0.8 ms per buffer), which a
// buffer taken again does not. It keeps at most freeBuffers (8.5 MiB);
// those beyond are left to the collector.
var free = make(chan *[]byte, freeBuffers)

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
