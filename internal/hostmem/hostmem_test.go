package hostmem

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func write(t *testing.T, file, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLimitFollowsControlGroups(t *testing.T) {
	const gib = 1 << 30
	for _, c := range []struct {
		name  string
		self  string
		files map[string]string // under the cgroup root
		total uint64
		want  uint64
	}{
		{"v2 unlimited", "0::/a/b\n", map[string]string{"a/b/memory.max": "max\n", "a/memory.max": "max\n"}, 8 * gib, 8 * gib},
		{"v2 own limit", "0::/a/b\n", map[string]string{"a/b/memory.max": "2147483648\n"}, 8 * gib, 2 * gib},
		{"v2 parent's lower", "0::/a/b\n", map[string]string{"a/b/memory.max": "4294967296\n", "a/memory.max": "1073741824\n"}, 8 * gib, 1 * gib},
		{"v2 above the machine", "0::/a\n", map[string]string{"a/memory.max": "68719476736\n"}, 8 * gib, 8 * gib},
		{"v1 memory controller", "5:cpu,cpuacct:/x\n4:memory:/job\n", map[string]string{"memory/job/memory.limit_in_bytes": "3221225472\n", "memory/memory.limit_in_bytes": "9223372036854771712\n"}, 8 * gib, 3 * gib},
		{"a path leaving the root", "0::../../etc\n", map[string]string{"memory.max": "1\n"}, 8 * gib, 8 * gib},
		{"junk", "0::/a\n", map[string]string{"a/memory.max": "lots\n"}, 8 * gib, 8 * gib},
		{"no total, a limit", "0::/a\n", map[string]string{"a/memory.max": "1073741824\n"}, 0, 1 * gib},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			root := filepath.Join(dir, "cgroup")
			for name, data := range c.files {
				write(t, filepath.Join(root, name), data)
			}
			self := filepath.Join(dir, "self")
			write(t, self, c.self)
			if got := limit(c.total, self, root); got != c.want {
				t.Errorf("limit = %d, want %d", got, c.want)
			}
		})
	}
	if got := limit(5, filepath.Join(t.TempDir(), "missing"), "/nonexistent"); got != 5 {
		t.Errorf("without a cgroup file: %d, want the total", got)
	}
}

func TestLimitOfThisMachine(t *testing.T) {
	got := Limit()
	if runtime.GOOS != "linux" {
		if got != 0 {
			t.Errorf("Limit() = %d off Linux, want 0 (unknown)", got)
		}
		return
	}
	if got == 0 || got > total() {
		t.Errorf("Limit() = %d, want more than 0 and at most the machine's %d", got, total())
	}
}
