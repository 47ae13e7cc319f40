package golang

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// watchLinked sends the path of the program the linker writes under dir,
// the go command's temporary folder (GOTMPDIR), once the linker has closed
// it: dir/go-build*/b*/exe/a.out. The go command then reads it whole to
// stamp its build ID, and only after that renames it into place
// (watchInstall): milliseconds in which the layer's kept blocks and the
// program's pages can be made ready (layer.Look). It returns a nil channel
// when it cannot watch; stop releases the watch without waiting.
func watchLinked(dir string) (linked <-chan string, stop func()) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, func() {}
	}
	w := &linkWatch{fd: fd, dirs: map[int32]string{}, depth: map[int32]int{}}
	if !w.add(dir, 0) {
		unix.Close(fd)
		return nil, func() {}
	}
	ch := make(chan string, 1)
	stop = readEvents(fd, func(events []byte) bool {
		if p := w.handle(events); p != "" {
			ch <- p
			return true
		}
		return false
	})
	return ch, stop
}

// linkWatch follows the folders the go command makes down to the
// linker's: depth 0 is GOTMPDIR, 1 its work folder, 2 an action's folder,
// 3 the action's exe folder.
type linkWatch struct {
	fd    int
	dirs  map[int32]string // watched folders, by watch descriptor
	depth map[int32]int    // and their depths
}

// linkPath names the folders watched at each depth below GOTMPDIR.
func linkPath(depth int, name string) bool {
	switch depth {
	case 1:
		return strings.HasPrefix(name, "go-build")
	case 2:
		return strings.HasPrefix(name, "b")
	case 3:
		return name == "exe"
	}
	return false
}

// add watches dir at depth, then the folders already in it: they may
// have been made before the watch was.
func (w *linkWatch) add(dir string, depth int) bool {
	mask := uint32(unix.IN_CREATE | unix.IN_ONLYDIR)
	if depth == 3 {
		mask = unix.IN_CLOSE_WRITE | unix.IN_ONLYDIR
	}
	wd, err := unix.InotifyAddWatch(w.fd, dir, mask)
	if err != nil {
		return false
	}
	w.dirs[int32(wd)], w.depth[int32(wd)] = dir, depth
	if depth < 3 {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.IsDir() && linkPath(depth+1, e.Name()) {
				w.add(filepath.Join(dir, e.Name()), depth+1)
			}
		}
	}
	return true
}

// handle follows the events in buf and returns the linker's output once
// it is closed, or "".
func (w *linkWatch) handle(buf []byte) string {
	for len(buf) >= unix.SizeofInotifyEvent {
		// struct inotify_event: wd, mask, cookie, len, then len bytes of
		// name padded with NULs.
		wd := int32(binary.NativeEndian.Uint32(buf[0:4]))
		mask := binary.NativeEndian.Uint32(buf[4:8])
		n := int(binary.NativeEndian.Uint32(buf[12:16]))
		buf = buf[unix.SizeofInotifyEvent:]
		if n > len(buf) {
			return ""
		}
		name := string(bytes.TrimRight(buf[:n], "\x00"))
		buf = buf[n:]
		dir, ok := w.dirs[wd]
		if !ok {
			continue
		}
		depth := w.depth[wd]
		switch {
		case depth == 3 && mask&unix.IN_CLOSE_WRITE != 0 && name == "a.out":
			return filepath.Join(dir, name)
		case depth < 3 && mask&unix.IN_CREATE != 0 && mask&unix.IN_ISDIR != 0 && linkPath(depth+1, name):
			w.add(filepath.Join(dir, name), depth+1)
		}
	}
	return ""
}
