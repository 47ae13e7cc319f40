// Command compare times kiln and ko side by side on the same projects and
// outputs, alternating runs, and prints raw figures, medians, kiln/ko
// ratios and peak memory. bench/compare.sh sets it up; see
// docs/performance.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kiln-build/kiln/pkg/blob"
	"github.com/kiln-build/kiln/pkg/layer"
)

var (
	runs    = flag.Int("runs", 5, "runs per scenario and tool")
	koBin   = flag.String("ko", "ko", "the ko binary (v0.19.1)")
	kilnBin = flag.String("kiln", "kiln", "the kiln binary")
	work    = flag.String("work", "", "scratch directory (default: a new temporary one)")
	repo    = flag.String("repo", ".", "the kiln repository (its examples/hello and cmd/kiln are the projects)")
)

// sample is one timed run.
type sample struct {
	wall    time.Duration
	maxRSS  int64 // bytes, the largest of the process and its children
	outcome string
}

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

func run() error {
	dir := *work
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "kiln-compare-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	reg, stop, err := startRegistry(dir)
	if err != nil {
		return err
	}
	defer stop()
	base := reg + "/base/static:v1"
	if err := pushBase(base); err != nil {
		return fmt.Errorf("pushing the base for ko: %w", err)
	}
	fmt.Printf("registry %s, base %s, %d runs each, kiln %s, ko %s\n", reg, base, *runs, version(*kilnBin, "version"), version(*koBin, "version"))
	fmt.Printf("%s, %d cores\n\n", version("go", "version"), cores())

	projects := []struct{ name, src, pkg, file string }{
		{"hello", filepath.Join(*repo, "examples", "hello"), ".", "main.go"},
		{"kiln", *repo, "./cmd/kiln", "cmd/kiln/main.go"},
	}
	var rows [][]string
	for _, p := range projects {
		kdir, kodir := filepath.Join(dir, "kiln", p.name), filepath.Join(dir, "ko", p.name)
		for _, d := range []string{kdir, kodir} {
			if err := copyTree(p.src, d); err != nil {
				return err
			}
		}
		env := append(os.Environ(), "KO_DEFAULTBASEIMAGE="+base, "KO_DOCKER_REPO="+reg+"/ko", "KILN_CACHE_DIR="+filepath.Join(dir, "kiln-cache"))
		out := func(tool, s string) string { return filepath.Join(dir, "out", tool, p.name, s) }
		edit := func(d string) func() error {
			n := 0
			return func() error {
				n++
				return appendFile(filepath.Join(d, p.file), fmt.Sprintf("\nvar benchEdit%d = %d\n", n, n))
			}
		}
		kilnArgs := func(extra ...string) []string {
			return append([]string{"build", "-q", "--base", base}, append(extra, p.pkg)...)
		}
		koArgs := func(extra ...string) []string {
			return append([]string{"build", "--sbom=none", "--bare"}, append(extra, p.pkg)...)
		}
		scenarios := []struct {
			name       string
			before     func(tool string) error
			kiln, ko   []string
			withGoList bool
			// fleet runs each tool in a fresh copy of its project in
			// another directory, with an empty GOCACHE, as a CI job
			// on a new machine does.
			fleet bool
		}{
			{"first build, to a layout", func(tool string) error {
				return os.RemoveAll(filepath.Join(kdir, ".kiln"))
			}, kilnArgs("--output", "oci:"+out("kiln", "first")), koArgs("--push=false", "--oci-layout-path", out("ko", "first")), false, false},
			{"no-change rebuild, to a layout", nil,
				kilnArgs("--output", "oci:"+out("kiln", "noop")), koArgs("--push=false", "--oci-layout-path", out("ko", "noop")), false, false},
			{"rebuild after editing one file", nil,
				kilnArgs("--output", "oci:"+out("kiln", "edit")), koArgs("--push=false", "--oci-layout-path", out("ko", "edit")), true, false},
			{"three platforms, after an edit", nil,
				kilnArgs("--platform", "linux/amd64,linux/arm64,linux/arm/v7", "--output", "oci:"+out("kiln", "three")),
				koArgs("--platform", "linux/amd64,linux/arm64,linux/arm/v7", "--push=false", "--oci-layout-path", out("ko", "three")), false, false},
			{"push of an unchanged image", nil,
				kilnArgs("--push", reg+"/kiln/"+strings.Fields(p.name)[0]), koArgs(), false, false},
			{"fleet: fresh clone elsewhere, empty GOCACHE, push of an image the registry has", nil,
				kilnArgs("--push", reg+"/kiln/"+strings.Fields(p.name)[0]), koArgs(), false, true},
		}
		editKiln, editKo := edit(kdir), edit(kodir)
		for _, sc := range scenarios {
			var ks, os_, gs []sample
			// Warm up once: the Go build cache and base caches are warm in
			// every scenario, for both tools.
			// (Not the fleet: its Go build cache is empty by design.)
			if sc.before != nil {
				sc.before("kiln")
			}
			if _, err := timed(kdir, env, *kilnBin, sc.kiln...); err != nil && !sc.fleet {
				return err
			}
			if _, err := timed(kodir, env, *koBin, sc.ko...); err != nil && !sc.fleet {
				return err
			}
			if sc.fleet {
				for i := range *runs {
					for _, tool := range order(i) {
						src, bin, args := kdir, *kilnBin, sc.kiln
						if tool == "ko" {
							src, bin, args = kodir, *koBin, sc.ko
						}
						s, err := fresh(filepath.Join(dir, "fleet"), src, env, bin, args)
						if err != nil {
							return err
						}
						if tool == "ko" {
							os_ = append(os_, s)
						} else {
							ks = append(ks, s)
						}
					}
				}
			}
			for i := range *runs {
				if sc.fleet {
					break
				}
				for _, tool := range order(i) {
					isEdit := strings.Contains(sc.name, "edit")
					switch tool {
					case "kiln":
						if sc.before != nil {
							sc.before(tool)
						}
						if isEdit {
							editKiln()
						}
						s, err := timed(kdir, env, *kilnBin, sc.kiln...)
						if err != nil {
							return err
						}
						ks = append(ks, s)
						if sc.withGoList {
							// The compiler's own time for the same change.
							editKiln()
							g, err := timed(filepath.Join(kdir), append(env, "CGO_ENABLED=0"), "go", "build", "-trimpath", "-buildvcs=false", "-o", filepath.Join(dir, "gobuild.bin"), p.pkg)
							if err != nil {
								return err
							}
							gs = append(gs, g)
						}
					case "ko":
						if isEdit {
							editKo()
						}
						s, err := timed(kodir, env, *koBin, sc.ko...)
						if err != nil {
							return err
						}
						os_ = append(os_, s)
					}
				}
			}
			fmt.Printf("%s / %s\n  kiln ms: %v\n  ko ms:   %v\n", p.name, sc.name, millis(ks), millis(os_))
			km, om := median(ks), median(os_)
			row := []string{p.name, sc.name, ms(km), ms(om), fmt.Sprintf("%.2f", float64(km)/float64(om)), mib(peak(ks)), mib(peak(os_)), ""}
			if len(gs) > 0 {
				gm := median(gs)
				fmt.Printf("  go build ms: %v\n", millis(gs))
				row[7] = fmt.Sprintf("go build %s, kiln/go %.2f", ms(gm), float64(km)/float64(gm))
			}
			rows = append(rows, row)
		}
	}
	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "project\tscenario\tkiln median\tko median\tkiln/ko\tkiln peak RSS\tko peak RSS\tnote")
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// order alternates which tool runs first.
func order(i int) []string {
	if i%2 == 0 {
		return []string{"kiln", "ko"}
	}
	return []string{"ko", "kiln"}
}

func timed(dir string, env []string, bin string, args ...string) (sample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Env = dir, env
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	start := time.Now()
	err := cmd.Run()
	s := sample{wall: time.Since(start)}
	if err != nil {
		return s, fmt.Errorf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, stderr.String())
	}
	s.maxRSS = cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
	return s, nil
}

func median(s []sample) time.Duration {
	d := make([]time.Duration, len(s))
	for i, x := range s {
		d[i] = x.wall
	}
	slices.Sort(d)
	return d[len(d)/2]
}

func peak(s []sample) int64 {
	var m int64
	for _, x := range s {
		m = max(m, x.maxRSS)
	}
	return m
}

func millis(s []sample) []int64 {
	var out []int64
	for _, x := range s {
		out = append(out, x.wall.Milliseconds())
	}
	return out
}

func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }
func mib(n int64) string        { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

func version(bin string, args ...string) string {
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

func cores() int {
	n, _ := exec.Command("nproc").Output()
	var c int
	fmt.Sscan(string(n), &c)
	return c
}

// startRegistry runs a Distribution registry on 127.0.0.1 without auth.
func startRegistry(dir string) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cfg := filepath.Join(dir, "registry.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("version: 0.1\nlog: {level: error}\nstorage:\n  filesystem: {rootdirectory: %s}\nhttp: {addr: %s}\n", filepath.Join(dir, "registry"), addr)), 0o644); err != nil {
		return "", nil, err
	}
	cmd := exec.Command("docker-registry", "serve", cfg)
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("starting docker-registry (apt-get install docker-registry): %w", err)
	}
	stop := func() { cmd.Process.Kill(); cmd.Wait() }
	for range 200 {
		if resp, err := http.Get("http://" + addr + "/v2/"); err == nil {
			resp.Body.Close()
			return addr, stop, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	return "", nil, fmt.Errorf("registry on %s did not start", addr)
}

// pushBase pushes a small static base, CA certificates and /etc/passwd
// (kiln's own system layer), for the three platforms.
func pushBase(ref string) error {
	dir, err := os.MkdirTemp("", "kiln-base-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	l, err := layer.Write(context.Background(), blob.Store{Dir: dir}, layer.System(), layer.Options{})
	if err != nil {
		return err
	}
	var adds []mutate.IndexAddendum
	for _, p := range []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}, {OS: "linux", Architecture: "arm", Variant: "v7"}} {
		img, err := mutate.AppendLayers(empty.Image, l)
		if err != nil {
			return err
		}
		cf, _ := img.ConfigFile()
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
		cf.Config.User = "65532:65532"
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			return err
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	return remote.WriteIndex(r, mutate.AppendManifests(empty.Index, adds...))
}

// copyTree copies the files git tracks (or every file) under src to dst.
func copyTree(src, dst string) error {
	out, err := exec.Command("git", "-C", src, "ls-files", "--cached", "--others", "--exclude-standard", ".").Output()
	if err != nil {
		return err
	}
	for _, f := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			continue // deleted in the work tree
		}
		p := filepath.Join(dst, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// fresh copies the project in src (without .kiln) into a new directory
// under root, runs bin there with an empty GOCACHE, and removes both.
func fresh(root, src string, env []string, bin string, args []string) (sample, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return sample{}, err
	}
	d, err := os.MkdirTemp(root, "machine-")
	if err != nil {
		return sample{}, err
	}
	defer os.RemoveAll(d)
	proj := filepath.Join(d, "src", filepath.Base(src))
	err = filepath.WalkDir(src, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if e.IsDir() {
			if e.Name() == ".kiln" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(proj, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(proj, rel), data, 0o644)
	})
	if err != nil {
		return sample{}, err
	}
	return timed(proj, append(env, "GOCACHE="+filepath.Join(d, "gocache")), bin, args...)
}

func appendFile(p, s string) error {
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(s)
	return err
}
