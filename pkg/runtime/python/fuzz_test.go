package python

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var imageNameRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// FuzzLoad writes a pyproject.toml and a requirements.txt (an empty one
// is left out) and reads the project as kiln does: Load, the names made
// from it, whether pip has anything to install, the base its
// requires-python picks and the pip arguments of its dependencies.
func FuzzLoad(f *testing.F) {
	for _, seed := range [][2]string{
		{"[project]\nname = \"my-app\"\nrequires-python = \">=3.10,<3.13\"\ndependencies = [\"flask>=3\", \"requests\"]\n[project.scripts]\nserve = \"my_app.cli:main\"\n", "flask\n"},
		{"[project]\nname = \"x\"\n", ""},
		{"", "# only a comment\n\n"},
		{"", "-r other.txt\n--index-url https://example.com/simple\nnumpy==2.0 ; python_version >= \"3.10\"\n"},
		{"[project\nname = 1\n", ""},
		{"[project]\nrequires-python = \"~=3.11.2\"\n", ""},
		{"[project]\nrequires-python = \"==3.*\"\n", ""},
		{"[project]\nrequires-python = \">=4\"\n", ""},
		{"[project]\nname = \"Ünïcode..Name__\"\ndependencies = []\n[project.scripts]\n", ""},
		{"[[project]]\n", ""},
	} {
		f.Add([]byte(seed[0]), []byte(seed[1]))
	}
	f.Fuzz(func(t *testing.T, pyproject, requirements []byte) {
		dir := t.TempDir()
		if len(pyproject) > 0 {
			if err := os.WriteFile(filepath.Join(dir, PyProject), pyproject, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if len(requirements) > 0 {
			if err := os.WriteFile(filepath.Join(dir, Requirements), requirements, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		p, err := Load(dir)
		if err != nil {
			if !strings.Contains(err.Error(), PyProject) {
				t.Fatalf("Load error %q does not name %s", err, PyProject)
			}
			return
		}
		if p.HasPyProject != (len(pyproject) > 0) || p.HasRequirement != (len(requirements) > 0) {
			t.Fatalf("HasPyProject %v, HasRequirement %v for files of %d and %d bytes", p.HasPyProject, p.HasRequirement, len(pyproject), len(requirements))
		}
		if IsProject(dir) != (p.HasPyProject || p.HasRequirement) {
			t.Fatalf("IsProject = %v with HasPyProject %v, HasRequirement %v", IsProject(dir), p.HasPyProject, p.HasRequirement)
		}
		if n := p.ImageName(); !imageNameRE.MatchString(n) {
			t.Fatalf("ImageName of %q = %q, not an image name", p.Name, n)
		}
		if m := p.ModuleName(); strings.ContainsAny(m, "-.") || m == "" {
			t.Fatalf("ModuleName of %q = %q", p.Name, m)
		}
		names := p.scriptNames()
		if len(names) != len(p.Scripts) {
			t.Fatalf("scriptNames = %v for %v", names, p.Scripts)
		}
		b := &Builder{proj: p}
		has, err := b.hasDeps()
		if err != nil {
			t.Fatalf("hasDeps: %v", err)
		}
		if len(p.Dependencies) > 0 && !has {
			t.Fatalf("hasDeps = false with dependencies %q", p.Dependencies)
		}
		if v, err := DefaultMinor(p.RequiresPython); err != nil {
			if err.Error() == "" {
				t.Fatal("DefaultMinor: empty error")
			}
		} else {
			if _, err := MinorOf(v); err != nil {
				t.Fatalf("DefaultMinor(%q) = %q: %v", p.RequiresPython, v, err)
			}
			base, err := DefaultBase(p.RequiresPython)
			if err != nil || !strings.Contains(base, ":"+v+"-") {
				t.Fatalf("DefaultBase(%q) = %q, %v; DefaultMinor gave %s", p.RequiresPython, base, err, v)
			}
		}
		args, err := PipArgs("/target", DefaultVersion, []string{"manylinux_2_17_x86_64"}, b.requirementArgs())
		if err != nil {
			t.Fatal(err)
		}
		if got := args[len(args)-len(p.Dependencies):]; len(p.Dependencies) > 0 && strings.Join(got, "\x00") != strings.Join(p.Dependencies, "\x00") {
			t.Fatalf("pip arguments end in %q, want the dependencies %q", got, p.Dependencies)
		}
	})
}
