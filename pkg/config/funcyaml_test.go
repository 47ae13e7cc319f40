package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// As func create -l go -t cloudevents writes it, then func build and
// func config envs/labels add to it.
const funcYAMLFull = `# $schema: https://raw.githubusercontent.com/knative/func/release-1.20/schema/func_yaml-schema.json
# yaml-language-server: $schema=https://raw.githubusercontent.com/knative/func/release-1.20/schema/func_yaml-schema.json
specVersion: 0.36.0
name: my-fn
runtime: go
registry: 127.0.0.1:5000/alice
namespace: prod
created: 2026-08-22T17:30:24.123456789+07:00
invoke: cloudevent
build:
  builder: host
  buildEnvs:
  - name: GOFLAGS
    value: -tags=prod
  - name: FROM_HOST
    value: '{{ env:KILN_TEST_HOST_VAR }}-x'
run:
  envs:
  - name: GREETING
    value: hello {{x}}
  - name: TOKEN
    value: '{{ secret:creds:token }}'
  - name: HOME_DIR
    value: '{{env:HOME}}'
  - value: '{{ configMap:settings }}'
deploy:
  namespace: prod
  image: 127.0.0.1:5000/alice/my-fn@sha256:0000000000000000000000000000000000000000000000000000000000000000
  labels:
  - key: team
    value: blue
  - key: owner
    value: '{{ env:USER }}'
  healthEndpoints:
    liveness: /health/liveness
  options:
    scale:
      min: 1
`

func TestParseFunc(t *testing.T) {
	f, err := ParseFunc("func.yaml", []byte(funcYAMLFull))
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "my-fn" || f.Runtime != "go" || f.RuntimeLine != 5 || f.Invoke != "cloudevent" {
		t.Errorf("got %+v", f)
	}
	if want := map[string]string{"GOFLAGS": "-tags=prod", "FROM_HOST": `{{index .Env "KILN_TEST_HOST_VAR"}}-x`}; !reflect.DeepEqual(f.BuildEnv, want) {
		t.Errorf("build env %v, want %v", f.BuildEnv, want)
	}
	if want := map[string]string{"GREETING": `{{"hello {{x}}"}}`}; !reflect.DeepEqual(f.Env, want) {
		t.Errorf("env %v, want %v", f.Env, want)
	}
	if want := map[string]string{"team": "blue"}; !reflect.DeepEqual(f.Labels, want) {
		t.Errorf("labels %v, want %v", f.Labels, want)
	}
	notBaked := strings.Join(f.NotBaked, "\n")
	for _, w := range []string{"run.envs TOKEN = {{ secret:creds:token }}", "run.envs HOME_DIR = {{env:HOME}}", "run.envs {{ configMap:settings }} (every key", "label owner = {{ env:USER }}"} {
		if !strings.Contains(notBaked, w) {
			t.Errorf("not baked lacks %q:\n%s", w, notBaked)
		}
	}
	if repo, tag, ok := f.PushTarget(); repo != "127.0.0.1:5000/alice/my-fn" || tag != "latest" || !ok {
		t.Errorf("push target %q %q %v", repo, tag, ok)
	}
	f.Image = "quay.io/bob/other:v2"
	if repo, tag, _ := f.PushTarget(); repo != "quay.io/bob/other" || tag != "v2" {
		t.Errorf("push target with image: %q %q", repo, tag)
	}

	// The values expand to what they say.
	data := &TemplateData{Env: map[string]string{"KILN_TEST_HOST_VAR": "h"}}
	if v, err := Expand("x", f.BuildEnv["FROM_HOST"], data); err != nil || v != "h-x" {
		t.Errorf("FROM_HOST expands to %q, %v", v, err)
	}
	if v, err := Expand("x", f.Env["GREETING"], data); err != nil || v != "hello {{x}}" {
		t.Errorf("GREETING expands to %q, %v", v, err)
	}
}

func TestParseFuncLegacyAndMinimal(t *testing.T) {
	f, err := ParseFunc("func.yaml", []byte("specVersion: 0.19.0\nname: old\nruntime: python\nenvs:\n- name: A\n  value: b\nlabels:\n- key: k\n  value: v\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Env["A"] != "b" || f.Labels["k"] != "v" {
		t.Errorf("legacy layout: %+v", f)
	}
	if _, _, ok := f.PushTarget(); ok {
		t.Error("push target without registry or image")
	}
	if f, err := ParseFunc("func.yaml", nil); err != nil || f.Name != "" {
		t.Errorf("empty file: %+v, %v", f, err)
	}
}

func TestParseFuncErrors(t *testing.T) {
	for src, want := range map[string]string{
		"name: fn\nruntime: go\nbuild:\n  buildEnvs: {GOFLAGS: x}\n":                   "func.yaml:4: ",
		"name: fn\nruntime: go\n  bad: indent\n":                                       "func.yaml:3: malformed YAML",
		"name: My_Fn\n":                                                                "func.yaml:1: name \"My_Fn\" is not a function name",
		"name: fn\ninvoke: kafka\n":                                                    "func.yaml:2: invoke \"kafka\"",
		"name: fn\nrun:\n  envs:\n  - name: 'A B'\n    value: x\n":                     "func.yaml:3: run.envs: \"A B\" is not a variable name",
		"name: fn\nbuild:\n  buildEnvs:\n  - name: A\n    value: '{{ secret:s:k }}'\n": "func.yaml:3: build.buildEnvs: A = {{ secret:s:k }}: a build environment value can only refer to {{ env:NAME }}",
		"name: fn\nimage: 'UPPER/Case:x:y'\n":                                          "func.yaml:2: image",
	} {
		_, err := ParseFunc("func.yaml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", src, err, want)
		}
	}
}

// TestFuncUnderKiln: kiln.yaml wins where both speak; func.yaml's
// settings apply to the root target only.
func TestFuncUnderKiln(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "func.yaml"), []byte("name: fn\nruntime: go\nbuild:\n  baseImage: alpine\n  buildEnvs:\n  - {name: A, value: func}\n  - {name: B, value: func}\nrun:\n  envs:\n  - {name: E, value: func}\n"), 0o644)
	f, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if f.Runtime != "go" || f.Base != "alpine" || f.RuntimeSource() != filepath.Join(dir, "func.yaml")+":2" {
		t.Errorf("without kiln.yaml: runtime %q base %q from %q", f.Runtime, f.Base, f.RuntimeSource())
	}
	s := f.For(".")
	if s.Name != "fn" || s.Kind != KindFunction || s.BuildEnv["A"] != "func" || s.Env["E"] != "func" {
		t.Errorf("root settings %+v", s)
	}
	if s := f.For("sub"); s.Name != "" || s.Env != nil {
		t.Errorf("another target gets func.yaml's settings: %+v", s)
	}
	os.WriteFile(filepath.Join(dir, "kiln.yaml"), []byte("name: kiln-name\nbase: debian:12\nbuildEnv:\n  A: kiln\n"), 0o644)
	if f, err = Load(dir); err != nil {
		t.Fatal(err)
	}
	s = f.For(".")
	if f.Base != "debian:12" || s.Name != "kiln-name" || s.BuildEnv["A"] != "kiln" || s.BuildEnv["B"] != "func" || s.Env["E"] != "func" {
		t.Errorf("with kiln.yaml: base %q, %+v", f.Base, s)
	}
}
