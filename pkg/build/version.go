package build

import (
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"sync"
)

// version is set at release time with -ldflags "-X ...build.version=v1.2.3".
var version = ""

// Version identifies this kiln. A build from source without a version
// (a "(devel)" build) is identified by its Go build ID (or else a hash of
// its executable), so that changing kiln invalidates the builds it reuses.
var Version = sync.OnceValue(func() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	if id := buildID(); id != "" {
		return "devel+" + id
	}
	return "devel+" + executableHash()
})

// buildID reads the Go build ID from the executable's ELF note: the
// toolchain derives it from every input of the binary, and reading it
// costs far less than hashing the file.
func buildID() string {
	p, err := os.Executable()
	if err != nil {
		return ""
	}
	f, err := elf.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	s := f.Section(".note.go.buildid")
	if s == nil {
		return ""
	}
	data, err := s.Data()
	// The note: name size, descriptor size, type, "Go\x00\x00", the ID.
	if err != nil || len(data) < 16 {
		return ""
	}
	id := string(data[16:])
	if i := strings.IndexByte(id, 0); i >= 0 {
		id = id[:i]
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:8])
}

func executableHash() string {
	p, err := os.Executable()
	if err != nil {
		return "unknown"
	}
	f, err := os.Open(p)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "unknown"
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
