// Package config reads kiln.yaml, the optional file at a module's root that
// says how its programs become images. See docs/config.md.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/kiln-build/kiln/internal/lazy"
	"github.com/kiln-build/kiln/pkg/naming"
)

// FileName is the name kiln looks for at the module root.
const FileName = "kiln.yaml"

// Settings are the keys that may stand at the top level and, to override the
// top level for one program, under targets.
type Settings struct {
	// Kind says what the package is: "app" (a main package), "function"
	// (a package exporting Handle or New, which kiln wraps in an HTTP
	// service), or "" to tell from the code.
	Kind Kind `yaml:"kind"`
	// Name is the image name (repository), e.g. "hello" or "example.com/team/hello".
	Name string `yaml:"name"`
	// Env is the image's environment, NAME: value. Values are templates.
	Env map[string]string `yaml:"env"`
	// BuildEnv is added to the go build environment. Values are templates.
	BuildEnv map[string]string `yaml:"buildEnv"`
	// Flags are extra go build flags, e.g. ["-tags=netgo"]. Templates.
	Flags []string `yaml:"flags"`
	// Ldflags are passed as one -ldflags argument. Templates.
	Ldflags []string `yaml:"ldflags"`
	// Labels are added to the image config. Values are templates.
	Labels map[string]string `yaml:"labels"`
	// Ports are exposed ports: 8080, "8080/tcp" or "53/udp".
	Ports []string `yaml:"ports"`
	// User is "nonroot" (the default), "root", or UID[:GID].
	User string `yaml:"user"`
	// Data lists extra data directories as "SRC[:DEST]", SRC relative to
	// the module root, DEST absolute in the image.
	Data []string `yaml:"data"`
	// Kodata turns off (false) the kodata/ directory convention.
	Kodata *bool `yaml:"kodata"`
	// Base is the image to build on: a reference by tag or digest. Empty
	// means an empty base (scratch), or the runtime's default. Under
	// targets, it is that program's base (ko's baseImageOverrides).
	Base string `yaml:"base"`
	// Naming is how images are named under the repository pushed to:
	// default, bare, base-import-paths or preserve-import-paths (see
	// docs/registries.md). Top level only.
	Naming string `yaml:"naming"`
}

// File is the whole of kiln.yaml.
type File struct {
	Settings `yaml:",inline"`
	// Platforms to build when --platform is not given; ["all"] means every
	// platform of the base.
	Platforms []string `yaml:"platforms"`
	// Targets override Settings for single programs, keyed by the package's
	// directory relative to the module root ("cmd/api" or "./cmd/api").
	Targets map[string]Settings `yaml:"targets"`

	// Runtime, Command and Python are about Python projects (kind, in
	// Settings, about both); see python.go.
	Runtime string `yaml:"runtime"`
	// SBOM is the format of the SBOM attached to each image: "spdx" (the
	// default), "cyclonedx" or "none".
	SBOM    string         `yaml:"sbom"`
	Command []string       `yaml:"command"`
	Python  PythonSettings `yaml:"python"`

	// Path is where the file was read from ("" if there was none).
	Path string `yaml:"-"`
	// Func is the project's Knative Functions func.yaml, nil if there is
	// none. It gives the runtime and base when kiln.yaml does not, and
	// its settings apply to the target at the root (see For).
	Func *Func `yaml:"-"`
	// keys are the keys the file sets, with their lines.
	keys []keyLine
}

// Load reads dir/kiln.yaml (else ko's dir/.ko.yaml, see LoadKo), and
// dir/func.yaml when there is one (see Func). No kiln.yaml gives an empty
// File and no error; a kiln.yaml that is a symbolic link to nothing is an
// error.
func Load(dir string) (*File, error) {
	fn, err := LoadFunc(dir)
	if err != nil {
		return nil, err
	}
	f, err := loadKiln(dir)
	if err != nil {
		return nil, err
	}
	if fn != nil {
		f.Func = fn
		if f.Runtime == "" {
			f.Runtime = fn.Runtime
		}
		if f.Base == "" {
			f.Base = fn.Base
		}
	}
	return f, nil
}

func loadKiln(dir string) (*File, error) {
	p := filepath.Join(dir, FileName)
	fi, err := os.Lstat(p)
	if errors.Is(err, os.ErrNotExist) {
		return LoadKo(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			target, _ := os.Readlink(p)
			return nil, fmt.Errorf("%s is a symbolic link to %s, which does not exist: fix the link or remove it", p, target)
		}
	}
	data, err := readLimited(p)
	if err != nil {
		return nil, err
	}
	return Parse(p, data)
}

// RuntimeSource names the file and line that set the runtime, for
// messages.
func (f *File) RuntimeSource() string {
	if f.Path == "" && f.Func != nil && f.Func.Runtime != "" {
		return fmt.Sprintf("%s:%d", f.Func.Path, f.Func.RuntimeLine)
	}
	return f.Path
}

// readLimited reads the file at p, refusing more than MaxFileSize bytes
// without reading them.
func readLimited(p string) ([]byte, error) {
	fh, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	if err := checkSize(p, int64(len(data))); err != nil {
		return nil, err
	}
	return data, nil
}

// Parse decodes kiln.yaml content strictly: an unknown key is an error that
// names the key, the file and the line. name is used in messages. Content
// over MaxFileSize, or with a map or list of more than MaxEntries entries,
// is refused.
func Parse(name string, data []byte) (*File, error) {
	if err := checkSize(name, int64(len(data))); err != nil {
		return nil, err
	}
	if err := checkEntries(name, data); err != nil {
		return nil, err
	}
	f := &File{Path: name}
	var err error
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(f); err != nil && err != io.EOF {
		return nil, yamlError(name, err)
	}
	// A node, not a Go value: decoding a second document into maps would
	// run the quadratic duplicate check on it.
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		return nil, fmt.Errorf("%s: holds more than one YAML document; keep a single one", name)
	}
	if err := f.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	f.keys, err = keyLines(data)
	if err != nil {
		return nil, yamlError(name, err)
	}
	return f, nil
}

var (
	unknownField = lazy.Regexp(`line (\d+): field (\S+) not found in type (\S+)`)
	lineMsg      = lazy.Regexp(`line (\d+): (.*)`)
)

// yamlError rewrites the YAML library's messages into "file:line: what".
func yamlError(name string, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := lineMsg().FindStringSubmatch(msg); m != nil {
			return fmt.Errorf("%s:%s: malformed YAML: %s", name, m[1], m[2])
		}
		return fmt.Errorf("%s: malformed YAML: %s", name, msg)
	}
	var msgs []string
	for _, e := range te.Errors {
		if m := unknownField().FindStringSubmatch(e); m != nil {
			where, known := "", knownKeys()
			switch m[3] {
			case "config.PythonSettings":
				where, known = " under python:", yamlKeys(reflect.TypeOf(PythonSettings{}))
			case "config.Settings":
				where, known = " under a target", yamlKeys(reflect.TypeOf(Settings{}))
			}
			msgs = append(msgs, fmt.Sprintf("%s:%s: unknown key %q%s (known keys: %s)", name, m[1], m[2], where, strings.Join(known, ", ")))
			continue
		}
		if m := lineMsg().FindStringSubmatch(e); m != nil {
			msgs = append(msgs, fmt.Sprintf("%s:%s: %s", name, m[1], m[2]))
			continue
		}
		msgs = append(msgs, name+": "+e)
	}
	return errors.New(strings.Join(msgs, "\n"))
}

// yamlKeys are the yaml keys of the struct type t.
func yamlKeys(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		if k, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); k != "" && k != "-" {
			out = append(out, k)
		}
	}
	return out
}

func knownKeys() []string {
	return []string{"name", "base", "platforms", "env", "buildEnv", "flags", "ldflags", "labels", "ports", "user", "data", "kodata", "targets", "runtime", "kind", "command", "python", "naming", "sbom"}
}

// SharedKeys are the keys of kiln.yaml that apply whatever the runtime;
// each runtime names the others it reads (runtime.Runtime.Keys).
var SharedKeys = []string{"name", "base", "platforms", "env", "labels", "ports", "user", "data", "kodata", "runtime", "kind", "naming", "sbom"}

// keyLine is a key the file sets: "ldflags", or "targets.cmd/api.ldflags"
// under targets, with its line.
type keyLine struct {
	Path, Key string
	Line      int
}

// keyLines lists the keys set at the top level and under each target.
func keyLines(data []byte) ([]keyLine, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, nil
	}
	var out []keyLine
	top := doc.Content[0].Content
	for i := 0; i+1 < len(top); i += 2 {
		k := top[i]
		out = append(out, keyLine{Path: k.Value, Key: k.Value, Line: k.Line})
		if k.Value != "targets" || top[i+1].Kind != yaml.MappingNode {
			continue
		}
		targets := top[i+1].Content
		for j := 0; j+1 < len(targets); j += 2 {
			if targets[j+1].Kind != yaml.MappingNode {
				continue
			}
			inner := targets[j+1].Content
			for n := 0; n+1 < len(inner); n += 2 {
				out = append(out, keyLine{Path: "targets." + targets[j].Value + "." + inner[n].Value, Key: inner[n].Value, Line: inner[n].Line})
			}
		}
	}
	return out, nil
}

// CheckKeys makes it an error for the file to set a key that the runtime
// of the project does not read: the shared keys and those of the runtime
// (its own keys) are allowed, and a key is named with its line otherwise,
// rather than silently ignored.
func (f *File) CheckKeys(runtime string, own []string) error {
	for _, k := range f.keys {
		if slices.Contains(SharedKeys, k.Key) || slices.Contains(own, k.Key) {
			continue
		}
		uses := append(slices.Clone(SharedKeys), own...)
		slices.Sort(uses)
		return fmt.Errorf("%s:%d: %s is not used by the %s runtime, so it would be ignored: remove it (a %s project uses %s)", f.Path, k.Line, k.Path, runtime, runtime, strings.Join(uses, ", "))
	}
	return nil
}

func (f *File) validate() error {
	if err := f.validateRuntime(); err != nil {
		return err
	}
	switch f.SBOM {
	case "", "spdx", "cyclonedx", "none":
	default:
		return fmt.Errorf("sbom: %q is not an SBOM format: use spdx, cyclonedx or none", f.SBOM)
	}
	hasBase := f.Base != ""
	if err := f.Settings.validate(hasBase); err != nil {
		return err
	}
	if err := naming.Validate(f.Naming); err != nil {
		return err
	}
	for k, t := range f.Targets {
		if t.Naming != "" {
			return fmt.Errorf("targets.%s: naming: is a top-level setting; move it to the top of the file", k)
		}
		if err := t.validate(hasBase || t.Base != ""); err != nil {
			return fmt.Errorf("targets.%s: %w", k, err)
		}
	}
	return nil
}

var portRE = lazy.Regexp(`^(\d{1,5})(/(tcp|udp|sctp))?$`)

// Kind is what a target is to kiln.
type Kind string

// Kinds of programs kiln builds.
const (
	// KindApp is a program with its own entry point (a Go main package,
	// a Python app).
	KindApp Kind = "app"
	// KindFunction is a handler that kiln serves with a service of its own.
	KindFunction Kind = "function"
)

// validate checks values. On a base image any user name may exist, so
// names are checked only for images from scratch.
func (s Settings) validate(hasBase bool) error {
	if s.Kind != "" && s.Kind != KindApp && s.Kind != KindFunction {
		return fmt.Errorf("kind: %q is not a kind; use app (a main package) or function (a package exporting Handle or New), or leave it out to tell from the code", s.Kind)
	}
	for _, p := range s.Ports {
		m := portRE().FindStringSubmatch(p)
		if m == nil {
			return fmt.Errorf("ports: %q is not a port; write 8080, \"8080/tcp\" or \"53/udp\"", p)
		}
		if n, _ := strconv.Atoi(m[1]); n < 1 || n > 65535 {
			return fmt.Errorf("ports: %q is out of range 1-65535", p)
		}
	}
	if _, err := ParseUser(s.User, hasBase); err != nil {
		return err
	}
	for _, d := range s.Data {
		if _, err := ParseData(d); err != nil {
			return err
		}
	}
	for k := range s.Env {
		if k == "" || strings.ContainsAny(k, "= ") {
			return fmt.Errorf("env: %q is not a variable name", k)
		}
	}
	return nil
}

// For merges the top-level settings with those under targets for the
// package in relDir (slash-separated, relative to the module root). Scalars
// and lists under targets replace the top level; maps are merged.
func (f *File) For(relDir string) Settings {
	s := f.Settings
	t, ok := f.target(relDir)
	if !ok {
		return f.withFunc(relDir, s)
	}
	if t.Name != "" {
		s.Name = t.Name
	}
	if t.Kind != "" {
		s.Kind = t.Kind
	}
	if t.User != "" {
		s.User = t.User
	}
	if t.Kodata != nil {
		s.Kodata = t.Kodata
	}
	if t.Base != "" {
		s.Base = t.Base
	}
	for _, l := range []struct{ dst, src *[]string }{{&s.Flags, &t.Flags}, {&s.Ldflags, &t.Ldflags}, {&s.Ports, &t.Ports}, {&s.Data, &t.Data}} {
		if *l.src != nil {
			*l.dst = *l.src
		}
	}
	s.Env = mergeMaps(s.Env, t.Env)
	s.BuildEnv = mergeMaps(s.BuildEnv, t.BuildEnv)
	s.Labels = mergeMaps(s.Labels, t.Labels)
	return f.withFunc(relDir, s)
}

// withFunc completes the settings of the target at the root with
// func.yaml's.
func (f *File) withFunc(relDir string, s Settings) Settings {
	if f.Func == nil || path.Clean(relDir) != "." {
		return s
	}
	return f.Func.under(s)
}

func (f *File) target(relDir string) (Settings, bool) {
	want := path.Clean(relDir)
	for k, t := range f.Targets {
		if path.Clean(strings.TrimPrefix(filepath.ToSlash(k), "./")) == want {
			return t, true
		}
	}
	return Settings{}, false
}

func mergeMaps(base, over map[string]string) map[string]string {
	if len(over) == 0 {
		return base
	}
	out := make(map[string]string, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// Users kiln knows by name: they have entries in the image's /etc/passwd.
var knownUsers = map[string]string{"root": "0:0", "nonroot": "65532:65532"}

// DefaultUser is the user images run as unless configured otherwise.
const DefaultUser = "65532:65532"

var uidRE = lazy.Regexp(`^\d+(:\d+)?$`)

// ParseUser turns the user setting into the config's "UID:GID" form. An
// empty setting gives the default non-root user. On a base image (hasBase)
// a name is kept as it is, for the base's /etc/passwd to resolve.
func ParseUser(u string, hasBase bool) (string, error) {
	if u == "" {
		return DefaultUser, nil
	}
	if v, ok := knownUsers[u]; ok && !hasBase {
		return v, nil
	}
	if uidRE().MatchString(u) || (hasBase && !strings.ContainsAny(u, " \t\n")) {
		return u, nil
	}
	return "", fmt.Errorf("user: %q is not known in the image; use nonroot, root or a numeric UID[:GID]", u)
}

// DataDir is one data directory copied into the image.
type DataDir struct {
	Src  string // relative to the module root, or absolute
	Dest string // absolute path in the image
}

// ParseData parses "SRC[:DEST]". Without DEST the directory goes under the
// kiln data path, /kiln/data/<base name of SRC>.
func ParseData(s string) (DataDir, error) {
	src, dest, _ := strings.Cut(s, ":")
	if src == "" {
		return DataDir{}, fmt.Errorf("data: %q has no source directory; write SRC or SRC:/path/in/image", s)
	}
	if dest == "" {
		base := filepath.Base(src)
		if base == "." || base == ".." || base == string(filepath.Separator) {
			return DataDir{}, fmt.Errorf("data: %q has no name to place it under; give a destination, e.g. %s:/srv/data", s, src)
		}
		dest = path.Join(DataPath, base)
	}
	if !path.IsAbs(dest) {
		return DataDir{}, fmt.Errorf("data: destination %q must be an absolute path in the image", dest)
	}
	dest = path.Clean(dest)
	if dest == "/" {
		return DataDir{}, fmt.Errorf("data: destination of %q cannot be the image root", s)
	}
	return DataDir{Src: src, Dest: dest}, nil
}

// DataPath is where the kodata/ directory lands in the image; KO_DATA_PATH
// and KILN_DATA_PATH point at it.
const DataPath = "/kiln/data"

// PlatformList returns the platforms setting in the --platform form.
func (f *File) PlatformList() string {
	return strings.Join(f.Platforms, ",")
}

// SortedKeys returns the keys of m in order, so maps become stable lists.
func SortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
