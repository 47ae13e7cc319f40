package blob

import (
	"os"

	"golang.org/x/sys/unix"
)

// clone makes dst a copy-on-write clone of src (the FICLONE ioctl): the
// two files share their extents until one is written, costing no space
// and no copying. It fails on file systems that cannot (ext4, tmpfs) and
// across file systems.
func clone(dst, src *os.File) error {
	return unix.IoctlFileClone(int(dst.Fd()), int(src.Fd()))
}
