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
	"github.com/kiln-build/kiln/pkg/runtime/golang"
)

var (
	runs    = flag.Int("runs", 5, "runs per scenario and tool")
	koBin   = flag.String("ko", "ko", "the ko binary (v0.19.1)")
	kilnBin = flag.String("kiln", "kiln", "the kiln binary")
	only    = flag.String("projects", "hello,kiln", "comma-separated projects to time: hello, kiln")
	scens   = flag.String("scenarios", "", "comma-separated words: only the scenarios whose names contain one (e.g. edit, push, fleet); all if empty")
	work    = flag.String("work", "", "scratch directory (default: a new temporary one)")
	repo    = flag.String("repo", ".", "the kiln repository (its examples/hello and cmd/kiln are the projects)")
)

// sample is one timed run.
type sample struct {
	wall   time.Duration
	maxRSS int64 // bytes, the largest of the process and its children
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
		if !slices.Contains(strings.Split(*only, ","), p.name) {
			continue
		}
		// Each tool builds its own copy, with SBOMs off and, in another
		// copy (SBOM settings are inputs: switching would rebuild), on.
		type runner struct {
			tool, dir string
			sbom      bool
			edit      func() error
			samples   []sample
		}
		var runners []*runner
		for _, sbom := range []bool{false, true} {
			for _, tool := range []string{"kiln", "ko"} {
				d := filepath.Join(dir, tool, p.name)
				if sbom {
					d += "-sbom"
				}
				if err := copyTree(p.src, d); err != nil {
					return err
				}
				runners = append(runners, &runner{tool: tool, dir: d, sbom: sbom, edit: edit(d, p.file)})
			}
		}
		env := append(os.Environ(), "KO_DEFAULTBASEIMAGE="+base, "KO_DOCKER_REPO="+reg+"/ko", "KILN_CACHE_DIR="+filepath.Join(dir, "kiln-cache"))
		// args are r's arguments for a scenario: what the scenario adds,
		// an output (out names the layout, or "" to push) and the
		// package.
		args := func(r *runner, out string, extra ...string) []string {
			var a []string
			if r.tool == "kiln" {
				a = []string{"build", "-q", "--base", base}
				if !r.sbom {
					a = append(a, "--sbom", "none")
				}
				a = append(a, extra...)
				if out != "" {
					a = append(a, "--output", "oci:"+filepath.Join(dir, "out", r.dir, out))
				} else {
					a = append(a, "--push", reg+"/kiln/"+filepath.Base(r.dir))
				}
			} else {
				a = []string{"build", "--bare"}
				if !r.sbom {
					a = append(a, "--sbom=none")
				}
				a = append(a, extra...)
				if out != "" {
					a = append(a, "--push=false", "--oci-layout-path", filepath.Join(dir, "out", r.dir, out))
				}
			}
			return append(a, p.pkg)
		}
		three := []string{"--platform", "linux/amd64,linux/arm64,linux/arm/v7"}
		scenarios := []struct {
			name       string
			out        string
			extra      []string
			before     func(r *runner) error
			edit       bool
			withGoList bool
			// fleet runs each tool in a fresh copy of its project in
			// another directory, with an empty GOCACHE, as a CI job on a
			// new machine does, pushing an image the registry has.
			fleet bool
		}{
			{name: "first build, to a layout", out: "first", before: func(r *runner) error {
				if r.tool != "kiln" {
					return nil
				}
				return os.RemoveAll(filepath.Join(r.dir, ".kiln"))
			}},
			{name: "no-change rebuild, to a layout", out: "noop"},
			{name: "rebuild after editing one file", out: "edit", edit: true, withGoList: true},
			{name: "three platforms, after an edit", out: "three", extra: three, edit: true},
			{name: "push of an unchanged image"},
			{name: "fleet: fresh clone elsewhere, empty GOCACHE, push of an image the registry has", fleet: true},
		}
		for _, sc := range scenarios {
			if !chosen(sc.name) {
				continue
			}
			var gs, gcs []sample
			for _, r := range runners {
				r.samples = nil
				// Warm up once: the Go build cache and base caches are
				// warm in every scenario, for every tool (but the fleet's,
				// whose Go build cache is empty by design).
				if sc.fleet {
					continue
				}
				if sc.before != nil {
					sc.before(r)
				}
				if _, err := timed(r.dir, env, bin(r.tool), args(r, sc.out, sc.extra...)...); err != nil {
					return err
				}
			}
			for i := range *runs {
				if !sc.fleet {
					break
				}
				for j := range runners {
					r := runners[(i+j)%len(runners)]
					s, err := fresh(filepath.Join(dir, "fleet"), r.dir, env, bin(r.tool), args(r, sc.out, sc.extra...))
					if err != nil {
						return err
					}
					r.samples = append(r.samples, s)
				}
			}
			for i := range *runs {
				if sc.fleet {
					break
				}
				for j := range runners {
					// Alternate which runs first.
					r := runners[(i+j)%len(runners)]
					if sc.before != nil {
						sc.before(r)
					}
					if sc.edit {
						r.edit()
					}
					s, err := timed(r.dir, env, bin(r.tool), args(r, sc.out, sc.extra...)...)
					if err != nil {
						return err
					}
					r.samples = append(r.samples, s)
					if sc.withGoList && r.tool == "kiln" && !r.sbom {
						// The compiler's own time for the same change.
						r.edit()
						g, err := timed(r.dir, append(env, "CGO_ENABLED=0"), "go", "build", "-trimpath", "-buildvcs=false", "-o", filepath.Join(dir, "gobuild.bin"), p.pkg)
						if err != nil {
							return err
						}
						gs = append(gs, g)
						// And with the collector settings kiln gives its
						// go command, which make the go command faster too.
						r.edit()
						g, err = timed(r.dir, append(append(env, "CGO_ENABLED=0"), golang.GCEnv(env)...), "go", "build", "-trimpath", "-buildvcs=false", "-o", filepath.Join(dir, "gobuild.bin"), p.pkg)
						if err != nil {
							return err
						}
						gcs = append(gcs, g)
					}
				}
			}
			ks, os_, kS, oS := runners[0].samples, runners[1].samples, runners[2].samples, runners[3].samples
			fmt.Printf("%s / %s\n  kiln ms: %v\n  ko ms:   %v\n  kiln ms, SBOMs: %v\n  ko ms, SBOMs:   %v\n", p.name, sc.name, millis(ks), millis(os_), millis(kS), millis(oS))
			km, om, kmS, omS := median(ks), median(os_), median(kS), median(oS)
			row := []string{p.name, sc.name, ms(km), ms(om), fmt.Sprintf("%.2f", float64(km)/float64(om)),
				fmt.Sprintf("%s / %s = %.2f", ms(kmS), ms(omS), float64(kmS)/float64(omS)), mib(peak(ks)), mib(peak(os_)), ""}
			if len(gs) > 0 {
				gm := median(gs)
				fmt.Printf("  go build ms: %v\n", millis(gs))
				fmt.Printf("  go build ms, kiln's GC settings %q: %v\n", golang.GCEnv(env), millis(gcs))
				gcm := median(gcs)
				row[8] = fmt.Sprintf("go build %s, kiln/go %.2f; go build with kiln's GC settings %s, kiln/that %.2f", ms(gm), float64(km)/float64(gm), ms(gcm), float64(km)/float64(gcm))
			}
			rows = append(rows, row)
		}
	}
	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "project\tscenario\tkiln median\tko median\tkiln/ko\twith SBOMs: kiln / ko = kiln/ko\tkiln peak RSS\tko peak RSS\tnote")
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// chosen reports whether -scenarios asks for the scenario named name.
func chosen(name string) bool {
	if *scens == "" {
		return true
	}
	for _, w := range strings.Split(*scens, ",") {
		if w != "" && strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// bin is the binary of a tool.
func bin(tool string) string {
	if tool == "kiln" {
		return *kilnBin
	}
	return *koBin
}

// edit returns a function that changes the file p.file of the project in
// d, differently each time.
func edit(d, file string) func() error {
	n := 0
	return func() error {
		n++
		return appendFile(filepath.Join(d, file), fmt.Sprintf("\nvar benchEdit%d = %d\n", n, n))
	}
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
