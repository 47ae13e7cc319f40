package golang

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/kiln-build/kiln/pkg/atomicfile"
	"github.com/kiln-build/kiln/pkg/runtime"
)

type goEnv struct {
	GOVERSION, GOMODCACHE, GOROOT, GOWORK string
}

func (b *Builder) readGoEnv(ctx context.Context) (goEnv, error) {
	b.goEnvOnce.Do(func() {
		// go env costs a process; its answer is kept in .kiln, keyed by
		// everything that decides it.
		key := b.goEnvKey()
		cached := ""
		if key != "" && b.opt.StateDir != "" {
			cached = filepath.Join(b.opt.StateDir, "goenv-"+key+".json")
			if data, err := os.ReadFile(cached); err == nil && json.Unmarshal(data, &b.goEnv) == nil && b.goEnv.GOVERSION != "" {
				return
			}
		}
		cmd := exec.CommandContext(ctx, "go", "env", "-json", "GOVERSION", "GOMODCACHE", "GOROOT", "GOWORK")
		cmd.Dir = b.pkg.ModuleRoot
		cmd.Env = b.opt.Env
		runtime.LogCommand(ctx, cmd)
		out, err := cmd.Output()
		if err != nil {
			b.goEnvErr = fmt.Errorf("running go env: %w (is Go installed and on PATH?)", err)
			return
		}
		if b.goEnvErr = json.Unmarshal(out, &b.goEnv); b.goEnvErr == nil && cached != "" && os.MkdirAll(b.opt.StateDir, 0o755) == nil {
			atomicfile.WriteBytes(cached, out, 0o644) // a cache: failing to keep it costs the next run a go env
		}
	})
	return b.goEnv, b.goEnvErr
}

// goEnvKey identifies what go env answers from: the go binary, the
// environment variables that steer the go command (and say where its
// config file is), that config file, and the go.mod and go.work files
// whose toolchain lines may select another Go. "" when it cannot tell.
func (b *Builder) goEnvKey() string {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return ""
	}
	goBin, _ = filepath.EvalSymlinks(goBin)
	h := sha256.New()
	stat := func(p string) {
		if fi, err := os.Stat(p); err == nil {
			fmt.Fprintf(h, "%s %d %d\n", p, fi.Size(), fi.ModTime().UnixNano())
		} else {
			fmt.Fprintf(h, "%s -\n", p)
		}
	}
	stat(goBin)
	var env []string
	for _, kv := range b.opt.Env {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "GO") || k == "HOME" || k == "XDG_CONFIG_HOME" || k == "PATH" {
			env = append(env, kv)
		}
	}
	fmt.Fprintf(h, "%q\n", lastOfEach(env))
	if dir, err := os.UserConfigDir(); err == nil {
		stat(filepath.Join(dir, "go", "env"))
	}
	stat(filepath.Join(b.pkg.ModuleRoot, "go.mod"))
	for d := b.pkg.ModuleRoot; ; d = filepath.Dir(d) {
		stat(filepath.Join(d, "go.work"))
		if d == filepath.Dir(d) {
			break
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil)[:12])
}
