//go:build unix

package layer

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// mapFile maps the file at p, read-only, if it holds at most limit bytes;
// release unmaps it. The mapping stays valid when the file is replaced or
// removed (kept blocks are replaced by a rename); only a file cut short
// in place faults, which callers recover from.
func mapFile(p string, limit int) (data []byte, release func(), err error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() == 0 || fi.Size() > int64(limit) {
		return nil, nil, errors.New("not a kept block")
	}
	return mapOpen(f, fi.Size())
}

// mapOpen maps the first size bytes of the open file f, read-only.
func mapOpen(f *os.File, size int64) (data []byte, release func(), err error) {
	if size <= 0 || size != int64(int(size)) {
		return nil, nil, errors.New("cannot map that size")
	}
	data, err = unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return data, func() { unix.Munmap(data) }, nil
}

// fileID returns the device and inode of the file fi describes: a file
// renamed keeps them.
func fileID(fi os.FileInfo) (dev, ino uint64, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return uint64(st.Dev), st.Ino, true
}
