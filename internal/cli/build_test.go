package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/pflag"

	"github.com/kiln-build/kiln/pkg/base"
	"github.com/kiln-build/kiln/pkg/layer"
	"github.com/kiln-build/kiln/pkg/layout"
	"github.com/kiln-build/kiln/pkg/plan"
	"github.com/kiln-build/kiln/pkg/run"
	"github.com/kiln-build/kiln/pkg/scaffold"
)

// parse runs kiln build's flag parsing over args.
func parse(t *testing.T, args ...string) (*buildFlags, error) {
	t.Helper()
	var f buildFlags
	fs := pflag.NewFlagSet("build", pflag.ContinueOnError)
	f.register(fs)
	return &f, fs.Parse(args)
}

func TestBuildFlagsToOptions(t *testing.T) {
	f, err := parse(t, "--platform", "linux/amd64,linux/arm/v7", "--base", "example.com/base:1",
		"--compression", "zstd", "-o", "oci:out", "--push", "127.0.0.1:5000/app", "-t", "v1", "-t", "latest",
		"--load", "--insecure-registry")
	if err != nil {
		t.Fatal(err)
	}
	opt, d, err := f.options([]string{"./cmd/a", "./cmd/b"})
	if err != nil {
		t.Fatal(err)
	}
	want := []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm", Variant: "v7"}}
	if !reflect.DeepEqual(opt.Plan.Platforms, want) || opt.Plan.AllPlatforms {
		t.Errorf("platforms %+v all=%v", opt.Plan.Platforms, opt.Plan.AllPlatforms)
	}
	if opt.Compression != layer.Zstd || opt.Plan.Base != "example.com/base:1" || !opt.Plan.Registry.Insecure {
		t.Errorf("options %+v", opt)
	}
	if !reflect.DeepEqual(opt.Plan.Targets, []string{"./cmd/a", "./cmd/b"}) {
		t.Errorf("targets %v", opt.Plan.Targets)
	}
	abs, _ := filepath.Abs("out")
	if d.output != (output{kind: "oci", path: abs}) || d.push != "127.0.0.1:5000/app" || !reflect.DeepEqual(d.tags, []string{"v1", "latest"}) || !d.load {
		t.Errorf("delivery %+v", d)
	}

	f, _ = parse(t, "--platform", "all")
	if opt, _, err := f.options(nil); err != nil || !opt.Plan.AllPlatforms || opt.Plan.Platforms != nil || opt.Compression != layer.Gzip {
		t.Errorf("--platform all: %+v, %v", opt.Plan, err)
	}
	f, _ = parse(t)
	if opt, d, err := f.options(nil); err != nil || opt.Plan.Platforms != nil || d.output.kind != "" || d.push != "" {
		t.Errorf("no flags: %+v %+v %v", opt, d, err)
	}
}

func TestBuildFlagErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--platform", "windows/amd64"}, "--platform: "},
		{[]string{"--platform", "linux/sparc"}, "--platform: "},
		{[]string{"--compression", "lz4"}, `--compression: compression "lz4" is not supported`},
		{[]string{"-o", "docker:x"}, `--output "docker:x" is not supported: use oci:DIR`},
		{[]string{"-o", "oci:"}, `--output "oci:" is not supported`},
		{[]string{"--push", "UPPER/case"}, "--push: "},
	} {
		f, err := parse(t, c.args...)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = f.options(nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error containing %q", c.args, err, c.want)
		}
	}
}

// The library's errors say what is wrong; the command line adds which
// flag to change.
func TestFlagHints(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{plan.ErrAllWithoutBase, "set --base, or base: in kiln.yaml"},
		{&base.SingleImageError{Ref: "b", Platform: v1.Platform{OS: "linux", Architecture: "arm64"}, Wanted: v1.Platform{OS: "linux", Architecture: "amd64"}}, "(--platform linux/arm64)"},
		{fmt.Errorf("/x %w", layout.ErrNotLayout), "--output: /x is neither empty nor an OCI image layout"},
		{fmt.Errorf("port 1: %w", run.ErrPortInUse), "choose another --port"},
		{fmt.Errorf("d is not empty: %w", scaffold.ErrNotEmpty), "use --force"},
	} {
		if got := withFlagHint(c.err); !strings.Contains(got.Error(), c.want) || !errors.Is(got, c.err) {
			t.Errorf("withFlagHint(%v) = %v, want it to contain %q and wrap the error", c.err, got, c.want)
		}
	}
	plain := errors.New("something else")
	if withFlagHint(plain) != plain {
		t.Error("withFlagHint changed an error it has no hint for")
	}
}
