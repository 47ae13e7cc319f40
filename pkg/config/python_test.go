package config

import (
	"strings"
	"testing"
)

func TestPythonKeys(t *testing.T) {
	f, err := Parse("kiln.yaml", []byte("runtime: python\nkind: function\ncommand: [gunicorn, app:app]\npython:\n  version: \"3.12\"\n  libc: glibc 2.39\n  module: svc.handler\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Runtime != "python" || f.Kind != "function" || len(f.Command) != 2 || f.Python.Version != "3.12" || f.Python.Libc != "glibc 2.39" || f.Python.Module != "svc.handler" {
		t.Errorf("parsed %+v", f)
	}
	for src, want := range map[string]string{
		"kind: job\n":                   `kind: "job" is not a kind; use app`,
		"command: []\n":                 "command: is empty",
		"python: {version: \"3\"}\n":    `python.version: "3" is not a Python version`,
		"python: {libc: uclibc}\n":      `python.libc: "uclibc"`,
		"python: {module: \"a-b\"}\n":   `python.module: "a-b" is not a module name`,
		"python: {verison: \"3.12\"}\n": `unknown key "verison"`,
	} {
		if _, err := Parse("kiln.yaml", []byte(src)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", src, err, want)
		}
	}
}

func TestCheckKeys(t *testing.T) {
	f, err := Parse("kiln.yaml", []byte("name: x\nldflags: [-s]\ntargets:\n  cmd/a:\n    flags: [-tags=x]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.CheckKeys("go", []string{"flags", "ldflags", "buildEnv", "targets"}); err != nil {
		t.Errorf("go keys refused: %v", err)
	}
	err = f.CheckKeys("python", []string{"command", "python"})
	if err == nil || !strings.Contains(err.Error(), "kiln.yaml:2: ldflags is not used by the python runtime") {
		t.Errorf("python: %v", err)
	}
	f, err = Parse("kiln.yaml", []byte("targets:\n  cmd/a:\n    ldflags: [-s]\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = f.CheckKeys("python", []string{"command", "python", "targets"})
	if err == nil || !strings.Contains(err.Error(), "kiln.yaml:3: targets.cmd/a.ldflags is not used by the python runtime") {
		t.Errorf("nested: %v", err)
	}
}
