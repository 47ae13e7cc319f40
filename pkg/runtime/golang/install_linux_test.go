package golang

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// event is an inotify event for name with mask, its name NUL-padded to
// pad bytes as the kernel does.
func event(mask uint32, name string, pad int) []byte {
	b := make([]byte, unix.SizeofInotifyEvent+pad)
	binary.NativeEndian.PutUint32(b[4:8], mask)
	binary.NativeEndian.PutUint32(b[12:16], uint32(pad))
	copy(b[unix.SizeofInotifyEvent:], name)
	return b
}

func TestRenamedInto(t *testing.T) {
	join := func(evs ...[]byte) []byte {
		var b []byte
		for _, e := range evs {
			b = append(b, e...)
		}
		return b
	}
	for _, c := range []struct {
		name string
		buf  []byte
		want bool
	}{
		{"the rename", event(unix.IN_MOVED_TO, "server", 16), true},
		{"after another file's", join(event(unix.IN_MOVED_TO, "other", 16), event(unix.IN_MOVED_TO, "server", 32)), true},
		{"a longer name", event(unix.IN_MOVED_TO, "server.tmp", 16), false},
		{"a shorter name", event(unix.IN_MOVED_TO, "serv", 16), false},
		{"not a rename", event(unix.IN_CREATE|unix.IN_CLOSE_WRITE, "server", 16), false},
		{"cut short", event(unix.IN_MOVED_TO, "server", 16)[:unix.SizeofInotifyEvent+4], false},
		{"nothing", nil, false},
	} {
		if got := renamedInto(c.buf, "server"); got != c.want {
			t.Errorf("%s: renamedInto = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestWatchInstall: the rename of the named file into the folder is seen
// (renamedInto tells it from other events, above).
func TestWatchInstall(t *testing.T) {
	dir := t.TempDir()
	installed, stop := watchInstall(dir, "server")
	defer stop()
	if installed == nil {
		t.Skip("inotify is not available here")
	}
	tmp := filepath.Join(dir, "server.tmp")
	if err := os.WriteFile(tmp, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "server")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-installed:
	case <-time.After(10 * time.Second):
		t.Fatal("the install was not seen")
	}
}

// TestWatchReleased: the inotify instance is released after the rename
// and after stop, though neither waits for it (closing one waits for the
// kernel's grace period): no descriptor is left behind.
func TestWatchReleased(t *testing.T) {
	fds := func() int {
		entries, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd here")
		}
		return len(entries)
	}
	before := fds()
	dir := t.TempDir()
	for _, rename := range []bool{true, false} {
		installed, stop := watchInstall(dir, "server")
		if installed == nil {
			t.Skip("inotify is not available here")
		}
		if rename {
			tmp := filepath.Join(dir, "server.tmp")
			if err := os.WriteFile(tmp, []byte("x"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, filepath.Join(dir, "server")); err != nil {
				t.Fatal(err)
			}
			<-installed
		}
		stop()
	}
	deadline := time.Now().Add(10 * time.Second)
	for fds() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d descriptors open after the watches ended, %d before", fds(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
