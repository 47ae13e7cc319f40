package golang

import (
	"bytes"
	"encoding/binary"
	"os"

	"golang.org/x/sys/unix"
)

// watchInstall closes the returned channel when a file named name is
// renamed into dir. go build links a program in its own work folder and
// renames it to -o's path once it is complete; the go command then takes
// some milliseconds more (removing that folder, updating its cache)
// before it ends, in which the layer can be written. It returns a nil
// channel when it cannot watch: then only the go command's end says the
// binary is ready. stop releases the watch without waiting.
//
// Releasing an inotify instance waits for the kernel's SRCU grace period:
// 7–20 ms measured here, longer than the go command's tail. So the
// instance is closed as soon as the rename is seen, and stop closes it in
// the background; neither waits on the build's path.
func watchInstall(dir, name string) (installed <-chan struct{}, stop func()) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, func() {}
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_MOVED_TO|unix.IN_ONLYDIR); err != nil {
		unix.Close(fd)
		return nil, func() {}
	}
	ch := make(chan struct{})
	stop = readEvents(fd, func(events []byte) bool {
		if renamedInto(events, name) {
			close(ch)
			return true
		}
		return false
	})
	return ch, stop
}

// readEvents reads the events of the inotify instance fd (non-blocking,
// through the runtime's poller, so that closing it ends a read under way)
// and gives them to handle until it reports that it saw what it waited
// for; the instance is then closed at once (see watchInstall). stop
// closes it in the background.
func readEvents(fd int, handle func(events []byte) bool) (stop func()) {
	f := os.NewFile(uintptr(fd), "inotify")
	go func() {
		buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
		for {
			n, err := f.Read(buf)
			if err != nil {
				return
			}
			if handle(buf[:n]) {
				f.Close()
				return
			}
		}
	}()
	return func() { go f.Close() }
}

// renamedInto reports whether the inotify events in buf include a file
// named name moved into the watched directory.
func renamedInto(buf []byte, name string) bool {
	for len(buf) >= unix.SizeofInotifyEvent {
		// struct inotify_event: wd, mask, cookie, len, then len bytes of
		// name padded with NULs.
		mask := binary.NativeEndian.Uint32(buf[4:8])
		n := int(binary.NativeEndian.Uint32(buf[12:16]))
		buf = buf[unix.SizeofInotifyEvent:]
		if n > len(buf) {
			return false
		}
		if mask&unix.IN_MOVED_TO != 0 && string(bytes.TrimRight(buf[:n], "\x00")) == name {
			return true
		}
		buf = buf[n:]
	}
	return false
}
