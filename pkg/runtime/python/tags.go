package python

import (
	"fmt"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/internal/lazy"
	"github.com/kiln-build/kiln/pkg/platform"
)

// Libc is the C library of a base image, which decides the wheels it can
// load: manylinux wheels need glibc of at least their version, musllinux
// wheels musl.
type Libc struct {
	Musl         bool
	Major, Minor int // the newest wheel tag taken, e.g. glibc 2.36
}

// DefaultGlibc is the newest glibc assumed of a glibc base: Debian 12's.
// Wheels tagged for it or older run on Debian 12 and later and on the
// official python images (Debian 12 or 13).
var DefaultGlibc = Libc{Major: 2, Minor: 36}

// DefaultMusl is the musl version assumed of a musl (Alpine) base.
var DefaultMusl = Libc{Musl: true, Major: 1, Minor: 2}

var libcRE = lazy.Regexp(`^(glibc|musl)(?:[ -]?(\d+)\.(\d+))?$`)

// ParseLibc parses the python.libc setting: "glibc", "musl", or either
// with a version, e.g. "glibc 2.39", "musl 1.2".
func ParseLibc(s string) (Libc, error) {
	m := libcRE().FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return Libc{}, fmt.Errorf("python.libc %q: write glibc or musl, optionally with the version, e.g. \"glibc 2.36\"", s)
	}
	l := DefaultGlibc
	if m[1] == "musl" {
		l = DefaultMusl
	}
	if m[2] != "" {
		l.Major, _ = strconv.Atoi(m[2])
		l.Minor, _ = strconv.Atoi(m[3])
	}
	return l, nil
}

// LibcFor decides the libc of a base: the setting when given, else musl
// for an Alpine base (its reference mentions alpine), else glibc.
func LibcFor(setting, baseRef string) (Libc, error) {
	if setting != "" {
		return ParseLibc(setting)
	}
	if strings.Contains(strings.ToLower(baseRef), "alpine") {
		return DefaultMusl, nil
	}
	return DefaultGlibc, nil
}

func (l Libc) String() string {
	if l.Musl {
		return fmt.Sprintf("musl %d.%d", l.Major, l.Minor)
	}
	return fmt.Sprintf("glibc %d.%d", l.Major, l.Minor)
}

// Arch is the name wheels use for a platform's machine: x86_64, aarch64...
func Arch(p v1.Platform) (string, error) {
	switch p.Architecture {
	case "amd64":
		return "x86_64", nil
	case "arm64":
		return "aarch64", nil
	case "386":
		return "i686", nil
	case "arm":
		switch p.Variant {
		case "v7", "":
			return "armv7l", nil
		case "v6":
			return "armv6l", nil
		}
	case "ppc64le", "s390x", "riscv64":
		return p.Architecture, nil
	}
	return "", fmt.Errorf("kiln knows no Python wheel tag for %s; Python images can be built for linux/amd64, linux/arm64, linux/arm/v7, linux/arm/v6, linux/386, linux/ppc64le, linux/s390x and linux/riscv64", platform.String(p))
}

// PlatformTags are the wheel platform tags a base with libc l on platform
// p can load, most specific first, as pip's --platform options. Generic
// linux_<arch> wheels are never taken: they were built for one machine.
func PlatformTags(p v1.Platform, l Libc) ([]string, error) {
	arch, err := Arch(p)
	if err != nil {
		return nil, err
	}
	var tags []string
	if l.Musl {
		for minor := l.Minor; minor >= 1 && l.Major == 1; minor-- {
			tags = append(tags, fmt.Sprintf("musllinux_1_%d_%s", minor, arch))
		}
		return tags, nil
	}
	if l.Major != 2 {
		return nil, fmt.Errorf("glibc %d.%d: kiln knows manylinux tags for glibc 2.x only", l.Major, l.Minor)
	}
	for minor := l.Minor; minor >= 5; minor-- {
		tags = append(tags, fmt.Sprintf("manylinux_2_%d_%s", minor, arch))
		// The legacy names of PEP 513, 571 and 599, which older wheels carry.
		switch {
		case minor == 17 && arch != "armv6l":
			tags = append(tags, "manylinux2014_"+arch)
		case minor == 12 && (arch == "x86_64" || arch == "i686"):
			tags = append(tags, "manylinux2010_"+arch)
		case minor == 5 && (arch == "x86_64" || arch == "i686"):
			tags = append(tags, "manylinux1_"+arch)
		}
	}
	return tags, nil
}
