// Package hostmem tells how much memory this process may use: the
// machine's, or less when a control group (a container, a CI job's slice)
// limits it.
package hostmem

import (
	"bufio"
	"os"
	"path"
	"strconv"
	"strings"
)

// Limit returns the memory, in bytes, that this process and its children
// may use, or 0 when it cannot tell.
func Limit() uint64 {
	return limit(total(), "/proc/self/cgroup", "/sys/fs/cgroup")
}

// limit is the least of total and the limits of the control groups that
// selfCgroup (a /proc/<pid>/cgroup file) names under the mount root.
func limit(total uint64, selfCgroup, root string) uint64 {
	least := total
	lower := func(n uint64) {
		if n > 0 && (least == 0 || n < least) {
			least = n
		}
	}
	f, err := os.Open(selfCgroup)
	if err != nil {
		return least
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		// "hierarchy-ID:controllers:path": "0::/path" on cgroup v2, and
		// "N:memory:/path" for v1's memory controller.
		parts := strings.SplitN(s.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		var dir, file string
		switch {
		case parts[0] == "0" && parts[1] == "":
			dir, file = root, "memory.max"
		case hasController(parts[1], "memory"):
			dir, file = path.Join(root, "memory"), "memory.limit_in_bytes"
		default:
			continue
		}
		// Every group from this one up to the root may limit it; a path
		// that leaves the root (or is not absolute) is not followed.
		p := path.Clean(parts[2])
		if !strings.HasPrefix(p, "/") {
			continue
		}
		for {
			lower(readLimit(path.Join(dir, p, file)))
			if p == "/" {
				break
			}
			p = path.Dir(p)
		}
	}
	return least
}

func hasController(list, name string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// readLimit reads a limit file: a number of bytes, or "max" (none, as is
// v1's huge "unlimited" value, which the total bounds anyway). 0 when
// there is no limit or no file.
func readLimit(file string) uint64 {
	data, err := os.ReadFile(file)
	if err != nil || len(data) > 64 {
		return 0
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return 0
	}
	return n
}
