package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// executable writes an executable file (a script that does nothing unless
// given one) at dir/name.
func executable(t *testing.T, dir, name, script string) string {
	t.Helper()
	if script == "" {
		script = "#!/bin/sh\nexit 0\n"
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func pathEnv(dirs ...string) []string {
	return []string{"PATH=" + strings.Join(dirs, string(os.PathListSeparator)), "HOME=/nonexistent"}
}

func TestFind(t *testing.T) {
	first, second, empty := t.TempDir(), t.TempDir(), t.TempDir()
	docker := executable(t, first, "docker", "")
	podman := executable(t, second, "podman", "")
	env := pathEnv(first, second)

	// podman comes first, wherever it is on PATH.
	e, err := Find("", env)
	if err != nil {
		t.Fatal(err)
	}
	if e.Name != "podman" || e.Path != podman {
		t.Errorf("Find(\"\") = %s at %s, want podman at %s", e.Name, e.Path, podman)
	}
	if len(e.Env) != len(env) || e.Env[0] != env[0] {
		t.Errorf("the engine runs in %q, want %q", e.Env, env)
	}
	// Asked for by name.
	if e, err := Find("docker", env); err != nil || e.Name != "docker" || e.Path != docker {
		t.Errorf("Find(docker) = %+v, %v; want docker at %s", e, err, docker)
	}
	// Only docker installed.
	if e, err := Find("", pathEnv(empty, first)); err != nil || e.Name != "docker" {
		t.Errorf("Find with only docker = %+v, %v", e, err)
	}
	// Neither.
	if _, err := Find("", pathEnv(empty)); !errors.Is(err, ErrNotFound) {
		t.Errorf("Find with no engine = %v, want ErrNotFound", err)
	}
	if _, err := Find("", []string{"HOME=/x"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Find without PATH = %v, want ErrNotFound", err)
	}
	// Named but missing.
	if _, err := Find("podman", pathEnv(first)); err == nil || !strings.Contains(err.Error(), "podman is not installed") {
		t.Errorf("Find(podman) without podman = %v", err)
	}
	// Not an engine kiln drives.
	executable(t, first, "nerdctl", "")
	if _, err := Find("nerdctl", env); err == nil || !strings.Contains(err.Error(), `engine "nerdctl"`) || !strings.Contains(err.Error(), "podman or docker") {
		t.Errorf("Find(nerdctl) = %v", err)
	}
}

func TestFindSkipsWhatCannotRun(t *testing.T) {
	dir := t.TempDir()
	// Not executable, and a directory: neither is an engine.
	if err := os.WriteFile(filepath.Join(dir, "podman"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "docker"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Find("", pathEnv(dir)); !errors.Is(err, ErrNotFound) {
		t.Errorf("Find = %v, want ErrNotFound for a non-executable podman and a docker directory", err)
	}
	// A relative PATH entry (here the current directory) is never searched.
	cwd := t.TempDir()
	executable(t, cwd, "podman", "")
	t.Chdir(cwd)
	for _, p := range []string{".", "", "bin"} {
		if e, err := Find("", pathEnv(p)); !errors.Is(err, ErrNotFound) {
			t.Errorf("PATH=%q: Find = %+v, %v; want ErrNotFound", p, e, err)
		}
	}
}

func TestFindNilEnvIsKilns(t *testing.T) {
	dir := t.TempDir()
	docker := executable(t, dir, "docker", "")
	t.Setenv("PATH", dir)
	e, err := Find("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.Path != docker {
		t.Errorf("Find(\"\", nil) = %s, want %s", e.Path, docker)
	}
}

func TestFinderNames(t *testing.T) {
	dir := t.TempDir()
	executable(t, dir, "podman", "")
	docker := executable(t, dir, "docker", "")
	f := Finder{Names: []string{"docker"}, Env: pathEnv(dir)}
	if e, err := f.Find(""); err != nil || e.Path != docker {
		t.Errorf("Finder{docker}.Find(\"\") = %+v, %v; want docker only", e, err)
	}
	if _, err := f.Find("podman"); err == nil || !strings.Contains(err.Error(), "kiln runs images with docker") {
		t.Errorf("Finder{docker}.Find(podman) = %v, want a refusal", err)
	}
	if got := DefaultNames(); strings.Join(got, ",") != "podman,docker" {
		t.Errorf("DefaultNames() = %q", got)
	}
	// DefaultNames returns a fresh slice: changing it changes nothing.
	DefaultNames()[0] = "nerdctl"
	if DefaultNames()[0] != "podman" {
		t.Error("DefaultNames() can be changed through its result")
	}
}

// fakeEngine is a shell script standing in for podman or docker. It logs
// its arguments to args.log; "load" reads the docker-archive on stdin
// into load.tar and remembers the image under its tag with the config
// digest from the archive's manifest.json as ID, as the real engines do;
// "image inspect --format {{.Id}} REF" prints that ID (podman: bare hex,
// docker: sha256:hex) or fails as they do for an unknown image.
// FAKE_LOAD=fail makes load fail, FAKE_LOAD=noop makes it succeed without
// storing the image.
const fakeEngine = `#!/bin/sh
dir=$(dirname "$0")
me=$(basename "$0")
printf '%s\n' "$*" >> "$dir/args.log"
case "$1" in
load)
	cat > "$dir/load.tar" || exit 1
	if [ "$FAKE_LOAD" = fail ]; then
		echo "Error: cannot connect to the engine" >&2
		exit 125
	fi
	manifest=$(tar -xOf "$dir/load.tar" manifest.json) || exit 1
	id=$(printf '%s' "$manifest" | sed -n 's/.*"Config":"sha256:\([0-9a-f]*\)".*/\1/p')
	tag=$(printf '%s' "$manifest" | sed -n 's/.*"RepoTags":\["\([^"]*\)".*/\1/p')
	if [ -z "$id" ] || [ -z "$tag" ]; then
		echo "Error: payload does not match any of the supported image formats" >&2
		exit 125
	fi
	if [ "$FAKE_LOAD" != noop ]; then
		echo "$tag $id" >> "$dir/images"
	fi
	echo "Loaded image: $tag"
	;;
image)
	[ "$2" = inspect ] && [ "$3" = --format ] && [ "$4" = '{{.Id}}' ] || exit 2
	id=$(grep -F "$5 " "$dir/images" 2>/dev/null | tail -n 1 | cut -d' ' -f2)
	if [ -z "$id" ]; then
		echo "Error: $5: image not known" >&2
		exit 125
	fi
	if [ "$me" = docker ]; then
		echo "sha256:$id"
	else
		echo "$id"
	fi
	;;
*)
	echo "unexpected command $*" >&2
	exit 2
	;;
esac
`

func newFake(t *testing.T, engineName string, extraEnv ...string) (*Engine, string) {
	t.Helper()
	dir := t.TempDir()
	executable(t, dir, engineName, fakeEngine)
	env := append([]string{"PATH=" + dir + string(os.PathListSeparator) + os.Getenv("PATH")}, extraEnv...)
	e, err := Find(engineName, env)
	if err != nil {
		t.Fatal(err)
	}
	return e, dir
}

func calls(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "args.log"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

func TestLoad(t *testing.T) {
	for _, engineName := range []string{"podman", "docker"} {
		t.Run(engineName, func(t *testing.T) {
			e, dir := newFake(t, engineName)
			img, err := random.Image(512, 2)
			if err != nil {
				t.Fatal(err)
			}
			tag, err := name.NewTag("example.com/team/app:v1")
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := e.Load(ctx, tag, img); err != nil {
				t.Fatal(err)
			}
			inspect := "image inspect --format {{.Id}} " + tag.String()
			if got, want := calls(t, dir), []string{inspect, "load", inspect}; strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("engine calls %q, want %q", got, want)
			}

			// What went to load is a docker-archive of the image.
			loaded, err := tarball.ImageFromPath(filepath.Join(dir, "load.tar"), &tag)
			if err != nil {
				t.Fatalf("the archive piped to load: %v", err)
			}
			sameImage(t, loaded, img)

			// Loaded already: only inspected.
			if err := e.Load(ctx, tag, img); err != nil {
				t.Fatal(err)
			}
			if got := calls(t, dir); len(got) != 4 || got[3] != inspect {
				t.Errorf("a second Load of the same image ran %q after the first, want only an inspect", got[3:])
			}

			// Another image under the same tag is loaded again.
			other, err := random.Image(256, 1)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Load(ctx, tag, other); err != nil {
				t.Fatal(err)
			}
			if got := calls(t, dir); len(got) != 7 || got[5] != "load" {
				t.Errorf("Load of a changed image ran %q, want inspect, load, inspect", got[4:])
			}
			loaded, err = tarball.ImageFromPath(filepath.Join(dir, "load.tar"), &tag)
			if err != nil {
				t.Fatal(err)
			}
			sameImage(t, loaded, other)
		})
	}
}

func sameImage(t *testing.T, got, want v1.Image) {
	t.Helper()
	gc, err := got.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	wc, _ := want.ConfigName()
	if gc != wc {
		t.Errorf("config %s, want %s", gc, wc)
	}
	gl, err := got.Layers()
	if err != nil {
		t.Fatal(err)
	}
	wl, _ := want.Layers()
	if len(gl) != len(wl) {
		t.Fatalf("%d layers, want %d", len(gl), len(wl))
	}
	for i := range gl {
		gd, err := gl[i].Digest()
		if err != nil {
			t.Fatal(err)
		}
		wd, _ := wl[i].Digest()
		if gd != wd {
			t.Errorf("layer %d is %s, want %s", i, gd, wd)
		}
	}
}

func TestLoadFailures(t *testing.T) {
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag("example.com/app:v1")
	ctx := context.Background()

	// load fails: its message, and for docker a hint about the daemon.
	for _, engineName := range []string{"podman", "docker"} {
		e, _ := newFake(t, engineName, "FAKE_LOAD=fail")
		err := e.Load(ctx, tag, img)
		if err == nil || !strings.Contains(err.Error(), engineName+" load: Error: cannot connect to the engine") {
			t.Errorf("%s: Load = %v, want load's error", engineName, err)
		}
		if hint := err != nil && strings.Contains(err.Error(), "start the Docker daemon"); hint != (engineName == "docker") {
			t.Errorf("%s: daemon hint %v in %v", engineName, hint, err)
		}
	}

	// load says it worked, but the engine has no such image.
	e, _ := newFake(t, "podman", "FAKE_LOAD=noop")
	if err := e.Load(ctx, tag, img); err == nil || !strings.Contains(err.Error(), "did not give image") {
		t.Errorf("Load without the image appearing = %v", err)
	}

	// A cancelled context is reported as such.
	e, _ = newFake(t, "podman")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := e.Load(cctx, tag, img); !errors.Is(err, context.Canceled) {
		t.Errorf("Load with a cancelled context = %v, want context.Canceled", err)
	}
}
