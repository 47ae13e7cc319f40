package build

import (
	"context"
	"fmt"
	"os"
	goruntime "runtime"
	"strings"

	"github.com/kiln-build/kiln/pkg/buildstore"
	"github.com/kiln-build/kiln/pkg/plan"
	"github.com/kiln-build/kiln/pkg/runtime"
)

// Executable is a program prepared to run on the machine kiln runs on.
type Executable struct {
	Name    string // the program's name
	Package string
	Kind    string // "app" or "function"
	// Command runs it.
	Command []string
	// Env is what the image's environment would add: the runtime's
	// variables, kiln.yaml's env (but PATH), and KILN_DATA_PATH and
	// KO_DATA_PATH set to the kodata/ directory when there is one.
	Env []string
}

// BuildExecutable prepares the one program opt names to run on this
// machine (kiln run --host), with files in dir. It uses kiln.yaml's
// settings as an image build does; platforms and outputs do not apply.
func BuildExecutable(ctx context.Context, opt Options, dir string) (*Executable, error) {
	workDir, err := os.MkdirTemp("", "kiln-build-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(workDir)
	po := opt.Plan
	po.WorkDir, po.OneProgram = workDir, true
	pl, err := plan.New(ctx, po)
	if err != nil {
		return nil, err
	}
	defer pl.Close()
	t := pl.Targets[0]
	ht, ok := t.Target.(runtime.HostTarget)
	if !ok {
		return nil, fmt.Errorf("%s: the %s runtime cannot run programs on this machine without an image", t.ID(), pl.Runtime.Name())
	}
	step := pl.Progress.Start(fmt.Sprintf("building %s for %s/%s", t.ImageName, goruntime.GOOS, goruntime.GOARCH), 0)
	x, err := ht.BuildHost(ctx, dir)
	step.Done(err)
	if err != nil {
		return nil, err
	}
	exe := &Executable{Name: t.ImageName, Package: t.ID(), Kind: string(t.Kind()), Command: x.Command, Env: x.Env}
	// In the order of the image's environment: configured env comes last.
	if t.Data.Kodata != "" {
		exe.Env = append(exe.Env, "KILN_DATA_PATH="+t.Data.Kodata, "KO_DATA_PATH="+t.Data.Kodata)
	}
	for _, kv := range t.Env {
		if !strings.HasPrefix(kv, "PATH=") {
			exe.Env = append(exe.Env, kv)
		}
	}
	store := buildstore.Builds{Dir: pl.Project.StatePath()}
	return exe, store.WithLock(ctx, pl.Project.SaveHashes)
}
