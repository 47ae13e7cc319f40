// Package bench holds kiln's benchmarks. They print figures; they assert
// nothing about time or memory. See docs/performance.md.
package bench

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkBigData builds an image whose data directory holds 1 GiB
// (KILN_BENCH_DATA_MB overrides the size) of incompressible data, running
// the kiln binary as a user would, and reports kiln's peak memory and
// throughput. Layers are streamed to disk, so the peak stays far below the
// data size.
//
// Two peaks are reported: peak-MiB is kiln's own (VmHWM, the high-water
// mark of its resident set, read from /proc while it runs) and
// peak-tree-MiB is what wait4 reports, the largest of kiln and the
// processes it ran (the go command and the linker).
func BenchmarkBigData(b *testing.B) {
	mb := 1024
	if s := os.Getenv("KILN_BENCH_DATA_MB"); s != "" {
		var err error
		if mb, err = strconv.Atoi(s); err != nil {
			b.Fatalf("KILN_BENCH_DATA_MB=%q: %v", s, err)
		}
	}
	_, file, _, _ := runtime.Caller(0)
	repo := filepath.Join(filepath.Dir(file), "..")
	work := b.TempDir()
	kiln := filepath.Join(work, "kiln")
	run(b, repo, "go", "build", "-o", kiln, "./cmd/kiln")

	proj := filepath.Join(work, "proj")
	if err := os.MkdirAll(filepath.Join(proj, "kodata"), 0o755); err != nil {
		b.Fatal(err)
	}
	for _, f := range []string{"go.mod", "main.go"} {
		data, err := os.ReadFile(filepath.Join(repo, "examples", "hello", f))
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(proj, f), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	writeRandom(b, filepath.Join(proj, "kodata", "big.bin"), int64(mb)<<20)
	// Compile once so the figures are about layers, not the Go build cache
	// (kiln's own .kiln is removed before each timed build).
	run(b, proj, kiln, "build", "-q", "--output", "oci:"+filepath.Join(work, "warm"))

	var own, tree int64
	var elapsed time.Duration
	b.ResetTimer()
	for i := range b.N {
		// Without .kiln there is no earlier build to reuse: every
		// iteration fingerprints the data and streams the whole layer.
		b.StopTimer()
		os.RemoveAll(filepath.Join(proj, ".kiln"))
		b.StartTimer()
		out := filepath.Join(work, "out"+strconv.Itoa(i))
		cmd := exec.Command(kiln, "build", "-q", "--output", "oci:"+out)
		cmd.Dir = proj
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		hwm := watchHWM(cmd.Process.Pid)
		if err := cmd.Wait(); err != nil {
			b.Fatalf("kiln build: %v", err)
		}
		elapsed += time.Since(start)
		own = max(own, <-hwm)
		tree = max(tree, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss<<10) // Linux reports KiB
		b.StopTimer()
		os.RemoveAll(out)
		b.StartTimer()
	}
	b.ReportMetric(float64(own)/(1<<20), "peak-MiB")
	b.ReportMetric(float64(tree)/(1<<20), "peak-tree-MiB")
	b.ReportMetric(float64(mb)*float64(b.N)/elapsed.Seconds(), "MiB/s")
	b.Logf("data directory %d MiB: kiln's own peak RSS %.1f MiB (with the go command and linker: %.1f MiB), %.2f s per build",
		mb, float64(own)/(1<<20), float64(tree)/(1<<20), elapsed.Seconds()/float64(b.N))
}

// watchHWM samples VmHWM, the peak resident set size, of process pid until
// it exits, and then sends the last value seen. VmHWM only grows, so the
// last sample is the peak up to a few milliseconds before exit.
func watchHWM(pid int) <-chan int64 {
	ch := make(chan int64, 1)
	go func() {
		var last int64
		for {
			data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
			if err != nil {
				break
			}
			kb, ok := field(string(data), "VmHWM:")
			if !ok { // a zombie has no memory lines left
				break
			}
			last = kb << 10
			time.Sleep(5 * time.Millisecond)
		}
		ch <- last
	}()
	return ch
}

func field(status, name string) (int64, bool) {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, name); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

func run(b *testing.B, dir, name string, args ...string) *exec.Cmd {
	b.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return cmd
}

// writeRandom writes n bytes that gzip cannot compress, a chunk at a time.
func writeRandom(b *testing.B, p string, n int64) {
	b.Helper()
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	rng := rand.NewChaCha8([32]byte{1})
	buf := make([]byte, 4<<20)
	for n > 0 {
		chunk := buf[:min(int64(len(buf)), n)]
		rng.Read(chunk)
		if _, err := f.Write(chunk); err != nil {
			b.Fatal(err)
		}
		n -= int64(len(chunk))
	}
}
