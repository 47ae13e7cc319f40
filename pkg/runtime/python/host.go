package python

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/pkg/platform"
	"github.com/kiln-build/kiln/pkg/runtime"
)

// BuildHost prepares the project to run on this machine with the host's
// Python (kiln run --host): its dependencies installed for the host with
// the host's pip (kept in .kiln like the images', so an unchanged project
// installs nothing), the function service and [project.scripts] launchers
// written into dir, and the image's paths mapped to those: /app is the
// project's directory, /kiln/bin and the service are in dir.
func (b *Builder) BuildHost(ctx context.Context, dir string) (*runtime.Executable, error) {
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return nil, err
	}
	pythonPath := []string{b.proj.Dir}
	if b.proj.SrcLayout {
		pythonPath = []string{filepath.Join(b.proj.Dir, "src"), b.proj.Dir}
	}
	path := bin
	deps, err := b.hasDeps()
	if err != nil {
		return nil, err
	}
	if deps {
		d, done, err := b.installedDeps(ctx, platform.Host(), b.host.Python, []string{"host"}, b.hostPip)
		if err != nil {
			return nil, err
		}
		// The install stays where it is (in .kiln) while the program
		// runs; one kept nowhere is moved into dir.
		if filepath.Dir(d) != b.opt.CacheDir {
			moved := filepath.Join(dir, "deps")
			if err := os.Rename(d, moved); err != nil {
				done()
				return nil, err
			}
			d = moved
		}
		pythonPath = append(pythonPath, d)
		path = bin + string(os.PathListSeparator) + filepath.Join(d, "bin")
	}
	for name, src := range b.launchers {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(src), 0o755); err != nil {
			return nil, err
		}
	}
	wrapper := filepath.Join(dir, filepath.Base(WrapperPath))
	if err := os.WriteFile(wrapper, wrapperSource, 0o644); err != nil {
		return nil, err
	}
	cmd := slices.Clone(b.entrypoint)
	for i, a := range cmd {
		switch {
		case i == 0 && a == "python3":
			cmd[i] = b.opt.Python
		case a == WrapperPath:
			cmd[i] = wrapper
		case strings.HasPrefix(a, BinDir+"/"):
			cmd[i] = filepath.Join(bin, strings.TrimPrefix(a, BinDir+"/"))
		case a == AppDir || strings.HasPrefix(a, AppDir+"/"):
			cmd[i] = filepath.Join(b.proj.Dir, strings.TrimPrefix(a, AppDir))
		}
	}
	if len(cmd) > 0 && cmd[0] != b.opt.Python && strings.HasPrefix(cmd[0], bin) {
		// A launcher's #!/usr/bin/env python3 finds the host's python3.
		cmd = append([]string{b.opt.Python}, cmd...)
	}
	return &runtime.Executable{Command: cmd, Env: []string{
		"PYTHONPATH=" + strings.Join(pythonPath, string(os.PathListSeparator)),
		"PYTHONDONTWRITEBYTECODE=1",
		"PYTHONUNBUFFERED=1",
		"PATH=" + path + string(os.PathListSeparator) + os.Getenv("PATH"),
	}}, nil
}

// hostPip installs the requirements into dir for this machine's Python,
// as pip install --target does for any project.
func (b *Builder) hostPip(ctx context.Context, dir, _ string, _ v1.Platform, _ string, _ []string) error {
	args := append([]string{"-m", "pip", "install", "--target", dir, "--no-compile", "--no-warn-script-location", "--disable-pip-version-check", "--progress-bar", "off"}, b.requirementArgs()...)
	if out, err := b.runPip(ctx, args); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("installing the dependencies for this machine (pip install --target): %w\n%s", err, strings.TrimSpace(out))
	}
	return nil
}
