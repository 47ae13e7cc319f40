package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"go.yaml.in/yaml/v3"

	"github.com/kiln-build/kiln/internal/lazy"
)

// FuncFileName is the project file of Knative Functions (func create).
const FuncFileName = "func.yaml"

// Func is what kiln takes from a Knative Functions func.yaml: the image
// name, runtime, build and run environments, labels, base image and push
// target. kiln.yaml wins where both say something. docs/functions.md
// lists every func.yaml field and what kiln does with it.
type Func struct {
	// Path is the file read.
	Path string
	// Name is the function's name: the image name.
	Name    string
	Runtime string
	// RuntimeLine is the line of runtime:, for messages.
	RuntimeLine int
	// Invoke is "cloudevent" for a CloudEvents function, else "" or "http".
	Invoke string
	// Base is build.baseImage.
	Base string
	// BuildEnv is build.buildEnvs, as kiln.yaml templates: a {{ env:X }}
	// reference reads X from the environment kiln runs in.
	BuildEnv map[string]string
	// Env is run.envs with literal values, which go into the image.
	Env map[string]string
	// Labels are deploy.labels with literal values, which become image
	// labels.
	Labels map[string]string
	// NotBaked describes the entries left out of the image: references
	// to the environment, secrets and config maps, resolved when the
	// function is deployed or run.
	NotBaked []string
	// Registry and Image are where func pushes the image.
	Registry, Image string
}

// funcEnv is a func.yaml environment entry.
type funcEnv struct {
	Name  *string `yaml:"name"`
	Value *string `yaml:"value"`
}

// funcLabel is a func.yaml label entry.
type funcLabel struct {
	Key   *string `yaml:"key"`
	Value *string `yaml:"value"`
}

// funcYAML is the part of func.yaml kiln reads. func itself ignores
// unknown keys, so kiln does too; the other fields are described in
// docs/functions.md.
type funcYAML struct {
	Name     string `yaml:"name"`
	Runtime  string `yaml:"runtime"`
	Registry string `yaml:"registry"`
	Image    string `yaml:"image"`
	Invoke   string `yaml:"invoke"`
	Build    struct {
		BuildEnvs []funcEnv `yaml:"buildEnvs"`
		BaseImage string    `yaml:"baseImage"`
	} `yaml:"build"`
	Run struct {
		Envs []funcEnv `yaml:"envs"`
	} `yaml:"run"`
	Deploy struct {
		Labels []funcLabel `yaml:"labels"`
	} `yaml:"deploy"`
	// Before spec 0.34.0 these stood at the top level.
	Envs      []funcEnv   `yaml:"envs"`
	BuildEnvs []funcEnv   `yaml:"buildEnvs"`
	Labels    []funcLabel `yaml:"labels"`
}

var (
	funcNameRE    = lazy.Regexp(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	funcEnvNameRE = lazy.Regexp(`^[-._a-zA-Z][-._a-zA-Z0-9]*$`)
	// A func.yaml value may hold references {{ env:X }}, {{ secret:S[:K] }},
	// {{ configMap:C[:K] }}, with optional spaces inside the braces.
	funcRefRE = lazy.Regexp(`\{\{\s*(env|secret|configMap):([^}]*?)\s*\}\}`)
)

// LoadFunc reads dir/func.yaml; nil without error when there is none.
func LoadFunc(dir string) (*Func, error) {
	p := filepath.Join(dir, FuncFileName)
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	data, err := readLimited(p)
	if err != nil {
		return nil, err
	}
	return ParseFunc(p, data)
}

// ParseFunc decodes func.yaml content; file is used in messages, which
// give the line of what is wrong.
func ParseFunc(file string, data []byte) (*Func, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlError(file, err)
	}
	var y funcYAML
	if err := yaml.Unmarshal(data, &y); err != nil {
		msg := strings.NewReplacer("[]config.funcEnv", "a list of entries with name: and value:", "[]config.funcLabel", "a list of entries with key: and value:",
			"config.funcEnv", "an entry with name: and value:", "config.funcLabel", "an entry with key: and value:").Replace(yamlError(file, err).Error())
		return nil, errors.New(msg)
	}
	f := &Func{Path: file, Name: y.Name, Runtime: y.Runtime, Invoke: y.Invoke, Base: y.Build.BaseImage, Registry: y.Registry, Image: y.Image}
	line := func(path ...string) int { return nodeLine(&doc, path...) }
	f.RuntimeLine = line("runtime")
	if f.Name != "" && !funcNameRE().MatchString(f.Name) {
		return nil, fmt.Errorf("%s:%d: name %q is not a function name: use lowercase letters, digits and '-', starting and ending with a letter or digit", file, line("name"), f.Name)
	}
	if f.Invoke != "" && f.Invoke != "http" && f.Invoke != "cloudevent" {
		return nil, fmt.Errorf("%s:%d: invoke %q: write http or cloudevent", file, line("invoke"), f.Invoke)
	}
	if f.Image != "" {
		if _, err := name.ParseReference(f.Image); err != nil {
			return nil, fmt.Errorf("%s:%d: image %q is not an image reference: %v", file, line("image"), f.Image, err)
		}
	}
	var err error
	buildEnvs, buildAt := y.Build.BuildEnvs, []string{"build", "buildEnvs"}
	if len(buildEnvs) == 0 {
		buildEnvs, buildAt = y.BuildEnvs, []string{"buildEnvs"}
	}
	if f.BuildEnv, err = f.envs(buildEnvs, line(buildAt...), strings.Join(buildAt, "."), true); err != nil {
		return nil, err
	}
	envs, envAt := y.Run.Envs, []string{"run", "envs"}
	if len(envs) == 0 {
		envs, envAt = y.Envs, []string{"envs"}
	}
	if f.Env, err = f.envs(envs, line(envAt...), strings.Join(envAt, "."), false); err != nil {
		return nil, err
	}
	labels, labelAt := y.Deploy.Labels, []string{"deploy", "labels"}
	if len(labels) == 0 {
		labels, labelAt = y.Labels, []string{"labels"}
	}
	for _, l := range labels {
		if l.Key == nil || *l.Key == "" {
			return nil, fmt.Errorf("%s:%d: %s: an entry has no key", file, line(labelAt...), strings.Join(labelAt, "."))
		}
		v := ""
		if l.Value != nil {
			v = *l.Value
		}
		if funcRefRE().MatchString(v) {
			f.NotBaked = append(f.NotBaked, fmt.Sprintf("label %s = %s (resolved by func when it deploys)", *l.Key, v))
			continue
		}
		if f.Labels == nil {
			f.Labels = map[string]string{}
		}
		f.Labels[*l.Key] = literal(v)
	}
	return f, nil
}

// envs reads a list of environment entries at line. Build entries may
// refer to the environment kiln runs in; run entries that refer to
// anything are left to func's deployers and runners.
func (f *Func) envs(list []funcEnv, line int, field string, build bool) (map[string]string, error) {
	var out map[string]string
	for _, e := range list {
		v := ""
		if e.Value != nil {
			v = *e.Value
		}
		if e.Name == nil || *e.Name == "" {
			if build {
				return nil, fmt.Errorf("%s:%d: %s: an entry has no name", f.Path, line, field)
			}
			f.NotBaked = append(f.NotBaked, fmt.Sprintf("%s %s (every key, imported when func deploys)", field, v))
			continue
		}
		n := *e.Name
		if !funcEnvNameRE().MatchString(n) {
			return nil, fmt.Errorf("%s:%d: %s: %q is not a variable name", f.Path, line, field, n)
		}
		refs := funcRefRE().FindAllStringSubmatch(v, -1)
		switch {
		case len(refs) == 0:
			v = literal(v)
		case build:
			for _, r := range refs {
				if r[1] != "env" {
					return nil, fmt.Errorf("%s:%d: %s: %s = %s: a build environment value can only refer to {{ env:NAME }}", f.Path, line, field, n, v)
				}
			}
			v = templateOfRefs(*e.Value)
		default:
			f.NotBaked = append(f.NotBaked, fmt.Sprintf("%s %s = %s (resolved by func when it deploys or runs the function)", field, n, v))
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[n] = v
	}
	return out, nil
}

// literal makes s a kiln.yaml template that expands to s itself.
func literal(s string) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	return "{{" + strconv.Quote(s) + "}}"
}

// templateOfRefs turns a value with {{ env:X }} references into a
// kiln.yaml template reading X from the environment kiln runs in.
func templateOfRefs(v string) string {
	var b strings.Builder
	for {
		loc := funcRefRE().FindStringSubmatchIndex(v)
		if loc == nil {
			b.WriteString(literal(v))
			return b.String()
		}
		b.WriteString(literal(v[:loc[0]]))
		fmt.Fprintf(&b, "{{index .Env %s}}", strconv.Quote(strings.TrimSpace(v[loc[4]:loc[5]])))
		v = v[loc[1]:]
	}
}

// nodeLine finds the line of the key at path in doc, 0 if it is absent.
func nodeLine(doc *yaml.Node, path ...string) int {
	if len(doc.Content) == 0 {
		return 0
	}
	n := doc.Content[0]
	line := 0
	for _, k := range path {
		if n.Kind != yaml.MappingNode {
			return line
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				line, n, found = n.Content[i].Line, n.Content[i+1], true
				break
			}
		}
		if !found {
			return line
		}
	}
	return line
}

// PushTarget is the repository and tag func pushes the function's image
// to: image, else registry/name:latest. ok is false when func.yaml sets
// neither.
func (f *Func) PushTarget() (repo, tag string, ok bool) {
	switch {
	case f == nil:
		return "", "", false
	case f.Image != "":
		ref, err := name.ParseReference(f.Image)
		if err != nil {
			return "", "", false
		}
		tag = "latest"
		if t, isTag := ref.(name.Tag); isTag {
			tag = t.TagStr()
		}
		return ref.Context().String(), tag, true
	case f.Registry != "" && f.Name != "":
		return strings.TrimSuffix(f.Registry, "/") + "/" + f.Name, "latest", true
	}
	return "", "", false
}

// under returns s completed with what func.yaml says: s wins.
func (f *Func) under(s Settings) Settings {
	if s.Name == "" {
		s.Name = f.Name
	}
	if s.Kind == "" {
		s.Kind = KindFunction
	}
	s.Env = mergeMaps(f.Env, s.Env)
	s.BuildEnv = mergeMaps(f.BuildEnv, s.BuildEnv)
	s.Labels = mergeMaps(f.Labels, s.Labels)
	return s
}
