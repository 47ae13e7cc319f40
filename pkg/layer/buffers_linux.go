package layer

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// touchedBuffers returns n empty buffers of capacity size, their memory
// touched. On Linux they are carved from one mapping the kernel is asked
// to back with 2 MiB pages where it can (transparent huge pages, allowed
// by default for mappings that ask): one fault per 2 MiB rather than 512,
// 1.3 ms rather than 10 for 14 MiB measured here, and as little to free
// when the process ends. The mapping lives as long as the process.
func touchedBuffers(n, size int) [][]byte {
	const huge = 2 << 20
	m, err := unix.Mmap(-1, 0, n*size+huge, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return heapBuffers(n, size)
	}
	unix.Madvise(m, unix.MADV_HUGEPAGE) // only advice: without it, 4 KiB pages
	// Huge pages back aligned 2 MiB ranges only: the buffers start at one.
	start := (huge - int(uintptr(unsafe.Pointer(&m[0]))%huge)) % huge
	m = m[start:]
	bufs := make([][]byte, n)
	for i := range bufs {
		b := m[i*size : (i+1)*size : (i+1)*size]
		touch(b)
		bufs[i] = b[:0]
	}
	return bufs
}
