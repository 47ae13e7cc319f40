package python

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kiln-build/kiln/internal/lazy"
	"github.com/kiln-build/kiln/pkg/config"
)

// resolveKind decides whether the project is an app or a function and
// how its image starts. An app runs, in order: the configured command,
// python -m <python.module>, the [project.scripts] entry, python -m of the
// one package with a __main__.py, or python -m main / app. Without a kind
// configured, a project with none of these whose function module defines
// handle or new is a function.
func (b *Builder) resolveKind(ctx context.Context) error {
	switch b.opt.Kind {
	case config.KindApp:
		return b.resolveApp()
	case config.KindFunction:
		return b.resolveFunction(ctx)
	case "":
	default:
		return fmt.Errorf("kind %q: write app or function", b.opt.Kind)
	}
	if len(b.opt.Command) > 0 || len(b.proj.Scripts) > 0 {
		return b.resolveApp()
	}
	if b.opt.Module == "" && (len(b.proj.mainModules()) > 0 || b.proj.findModule("main") != "" || b.proj.findModule("app") != "") {
		return b.resolveApp()
	}
	if ok, err := b.tryFunction(ctx); ok || err != nil {
		return err
	}
	return b.resolveApp()
}

func (b *Builder) resolveApp() error {
	b.kind = config.KindApp
	p := b.proj
	switch {
	case len(b.opt.Command) > 0:
		b.entrypoint = b.opt.Command
		return nil
	case b.opt.Module != "":
		if p.findModule(b.opt.Module) == "" {
			return fmt.Errorf("python.module %q: there is no %s.py or %s/__init__.py in %s", b.opt.Module, b.opt.Module, strings.ReplaceAll(b.opt.Module, ".", "/"), p.Dir)
		}
		b.entrypoint = []string{"python3", "-m", b.opt.Module}
		return nil
	case len(p.Scripts) > 0:
		names := p.scriptNames()
		pick := ""
		for _, n := range names {
			if n == p.Name || n == p.ImageName() {
				pick = n
			}
		}
		if pick == "" && len(names) == 1 {
			pick = names[0]
		}
		if pick == "" {
			return fmt.Errorf("[project.scripts] has %d entries (%s) and none is named %s: say which one the image runs with command: in kiln.yaml, e.g. command: [python3, %s/%s]", len(names), strings.Join(names, ", "), p.Name, BinDir, names[0])
		}
		b.entrypoint = []string{"python3", path.Join(BinDir, pick)}
		return nil
	}
	switch mains := p.mainModules(); len(mains) {
	case 1:
		b.entrypoint = []string{"python3", "-m", mains[0]}
		return nil
	case 0:
	default:
		return fmt.Errorf("several packages have a __main__.py (%s): say which one the image runs with python.module or command: in kiln.yaml", strings.Join(mains, ", "))
	}
	for _, m := range []string{"main", "app"} {
		if p.findModule(m) != "" {
			b.entrypoint = []string{"python3", "-m", m}
			return nil
		}
	}
	return fmt.Errorf("kiln cannot tell how to start %s: set command: in kiln.yaml (e.g. command: [python3, -m, mypkg]), add [project.scripts] to pyproject.toml, add a __main__.py to your package or a main.py; or, for a function, define handle(request) in function.py", p.Dir)
}

// functionModules are the modules a function may live in.
func (b *Builder) functionModules() []string {
	if b.opt.Module != "" {
		return []string{b.opt.Module}
	}
	return []string{DefaultFunctionModule, b.proj.ModuleName()}
}

type checkResult struct {
	Found     bool   `json:"found"`
	Style     string `json:"style"`
	Error     string `json:"error"`
	Unchecked bool   `json:"unchecked"`
}

// tryFunction looks for a function; ok is false when no module defines
// handle or new.
func (b *Builder) tryFunction(ctx context.Context) (bool, error) {
	for _, m := range b.functionModules() {
		file := b.proj.findModule(m)
		if file == "" {
			continue
		}
		res, err := b.checkFunction(ctx, file)
		if err != nil {
			return false, err
		}
		if res.Found {
			return true, b.useFunction(m, file, res)
		}
	}
	return false, nil
}

func (b *Builder) resolveFunction(ctx context.Context) error {
	mods := b.functionModules()
	for _, m := range mods {
		file := b.proj.findModule(m)
		if file == "" {
			continue
		}
		res, err := b.checkFunction(ctx, file)
		if err != nil {
			return err
		}
		if !res.Found {
			return fmt.Errorf("kind: function, but %s", res.Error)
		}
		return b.useFunction(m, file, res)
	}
	return fmt.Errorf("kind: function, but there is no function module: create %s.py defining handle(request) or new() (or set python.module in kiln.yaml)", mods[0])
}

func (b *Builder) useFunction(module, file string, res checkResult) error {
	if res.Error != "" {
		return fmt.Errorf("%s: %s", filepath.Join(b.proj.Dir, file), res.Error)
	}
	if len(b.opt.Command) > 0 {
		return fmt.Errorf("command: is for apps; a function's image runs kiln's service around %s", module)
	}
	b.kind = config.KindFunction
	b.entrypoint = []string{"python3", WrapperPath, module}
	if b.opt.CloudEvents {
		b.entrypoint = []string{"python3", WrapperPath, "--cloudevents", module}
	}
	return nil
}

// checkFunction parses file with the host's Python, without importing it.
func (b *Builder) checkFunction(ctx context.Context, file string) (checkResult, error) {
	var res checkResult
	args := []string{"function", filepath.Join(b.proj.Dir, file)}
	if oldest := b.oldestMinor(); oldest != "" {
		args = append(args, oldest)
	}
	out, err := b.python(ctx, args...)
	if err != nil {
		return res, err
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return res, fmt.Errorf("reading the check of %s: %w", file, err)
	}
	return res, nil
}

var entryRE = lazy.Regexp(`^\s*([A-Za-z_][\w.]*)\s*:\s*([A-Za-z_][\w.]*)\s*(\[.*\])?\s*$`)

// launcher is the script for a [project.scripts] entry "module:attr", as
// pip would write it when installing the project.
func launcher(name, ref string) (string, error) {
	m := entryRE().FindStringSubmatch(ref)
	if m == nil {
		return "", fmt.Errorf("[project.scripts] %s = %q is not \"module:function\"", name, ref)
	}
	mod, attr := m[1], m[2]
	top, _, _ := strings.Cut(attr, ".")
	return fmt.Sprintf("%s\n# [project.scripts] %s = %q\nimport sys\nfrom %s import %s\n\nif __name__ == \"__main__\":\n    sys.exit(%s())\n", Shebang, name, ref, mod, top, attr), nil
}

// oldestMinor is the oldest Python version ("3.11") of the images' bases,
// "" when none is known: a host Python at least that new reports syntax
// errors that are the file's, not syntax newer than it knows.
func (b *Builder) oldestMinor() string {
	oldest, oldestV := "", []int(nil)
	for _, v := range b.opt.Versions {
		minor, err := MinorOf(v)
		if err != nil {
			continue
		}
		rel, _ := parseRelease(minor)
		if oldestV == nil || slices.Compare(rel, oldestV) < 0 {
			oldest, oldestV = minor, rel
		}
	}
	return oldest
}
