package plan

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/testutil"
	"github.com/kiln-build/kiln/pkg/progress"
)

// logs records what a plan reports.
type logs struct {
	progress.Reporter
	lines []string
}

func (l *logs) Logf(format string, args ...any) {
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

const funcGo = "package function\n\nimport \"net/http\"\n\nfunc Handle(w http.ResponseWriter, r *http.Request) {}\n"

// TestFuncYAMLPlan: a func project's image is named after func.yaml, gets
// its literal run.envs, and its references are reported, not baked in;
// kiln.yaml's name wins.
func TestFuncYAMLPlan(t *testing.T) {
	dir := t.TempDir()
	testutil.WriteFile(t, filepath.Join(dir, "go.mod"), "module function\n\ngo 1.21\n")
	testutil.WriteFile(t, filepath.Join(dir, "handle.go"), funcGo)
	testutil.WriteFile(t, filepath.Join(dir, "func.yaml"), "specVersion: 0.36.0\nname: my-fn\nruntime: go\nrun:\n  envs:\n  - name: A\n    value: b\n  - name: S\n    value: '{{ secret:s:k }}'\ndeploy:\n  labels:\n  - key: team\n    value: blue\n")
	rep := &logs{Reporter: progress.Discard}
	pl, err := New(context.Background(), Options{Dir: dir, WorkDir: t.TempDir(), Env: os.Environ(), Progress: rep})
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	tg := pl.Targets[0]
	if tg.ImageName != "my-fn" || strings.Join(tg.Env, " ") != "A=b" || tg.Labels["team"] != "blue" || tg.Kind() != "function" {
		t.Errorf("target %s: name %q env %v labels %v", tg.ID(), tg.ImageName, tg.Env, tg.Labels)
	}
	if got := strings.Join(rep.lines, "\n"); !strings.Contains(got, "func.yaml: not baked into the image: run.envs S = {{ secret:s:k }}") {
		t.Errorf("reported:\n%s", got)
	}

	testutil.WriteFile(t, filepath.Join(dir, "kiln.yaml"), "name: from-kiln\n")
	pl2, err := New(context.Background(), Options{Dir: dir, WorkDir: t.TempDir(), Env: os.Environ()})
	if err != nil {
		t.Fatal(err)
	}
	defer pl2.Close()
	if pl2.Targets[0].ImageName != "from-kiln" || strings.Join(pl2.Targets[0].Env, " ") != "A=b" {
		t.Errorf("with kiln.yaml: %q %v", pl2.Targets[0].ImageName, pl2.Targets[0].Env)
	}

	// invoke: cloudevent with an HTTP Handle is explained.
	os.Remove(filepath.Join(dir, "kiln.yaml"))
	testutil.WriteFile(t, filepath.Join(dir, "func.yaml"), "name: my-fn\nruntime: go\ninvoke: cloudevent\n")
	if _, err := New(context.Background(), Options{Dir: dir, WorkDir: t.TempDir(), Env: os.Environ()}); err == nil || !strings.Contains(err.Error(), "func.yaml says invoke: cloudevent, but function does not export a CloudEvents Handle") {
		t.Errorf("invoke: cloudevent with an HTTP Handle: %v", err)
	}
}
