package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
	"golang.org/x/mod/modfile"
)

// KoFileName is ko's configuration file, read when there is no kiln.yaml.
const KoFileName = ".ko.yaml"

// koFile is the part of .ko.yaml kiln honours. Any other key is an error:
// kiln would otherwise build something other than what the file asks for.
type koFile struct {
	DefaultBaseImage   string            `yaml:"defaultBaseImage"`
	BaseImageOverrides map[string]string `yaml:"baseImageOverrides"`
	DefaultPlatforms   []string          `yaml:"defaultPlatforms"`
	DefaultEnv         []string          `yaml:"defaultEnv"`
	DefaultFlags       stringOrList      `yaml:"defaultFlags"`
	DefaultLdflags     stringOrList      `yaml:"defaultLdflags"`
	Builds             []koBuild         `yaml:"builds"`
}

type koBuild struct {
	ID      string       `yaml:"id"`
	Dir     string       `yaml:"dir"`
	Main    string       `yaml:"main"`
	Env     []string     `yaml:"env"`
	Flags   stringOrList `yaml:"flags"`
	Ldflags stringOrList `yaml:"ldflags"`
}

// stringOrList is ko's flags/ldflags form: a list, or one string split
// on white space.
type stringOrList []string

func (s *stringOrList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*s = strings.Fields(n.Value)
		return nil
	}
	var l []string
	if err := n.Decode(&l); err != nil {
		return err
	}
	*s = l
	return nil
}

// LoadKo reads ko's dir/.ko.yaml (or the file or directory KO_CONFIG_PATH
// names) into kiln's settings; no file gives an empty File. See
// docs/config.md for the mapping.
func LoadKo(dir string) (*File, error) {
	p := filepath.Join(dir, KoFileName)
	if env := os.Getenv("KO_CONFIG_PATH"); env != "" {
		p = env
		if fi, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("KO_CONFIG_PATH: %w", err)
		} else if fi.IsDir() {
			p = filepath.Join(p, KoFileName)
		}
	}
	data, err := readLimited(p)
	if errors.Is(err, os.ErrNotExist) {
		return &File{}, nil
	}
	if err != nil {
		return nil, err
	}
	return ParseKo(p, data, modulePath(dir))
}

// modulePath is the path of the Go module dir is in, "" if none.
func modulePath(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		if data, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil {
			return modfile.ModulePath(data)
		}
		if d == filepath.Dir(d) {
			return ""
		}
	}
}

// ParseKo maps ko's configuration onto kiln's: defaultBaseImage is base,
// baseImageOverrides and builds become targets (keyed by the package's
// directory, found from module, the module path), defaultPlatforms is
// platforms, defaultEnv and env are buildEnv, flags and ldflags keep
// their names. A key kiln cannot honour is an error naming it.
func ParseKo(name string, data []byte, module string) (*File, error) {
	if err := checkSize(name, int64(len(data))); err != nil {
		return nil, err
	}
	if err := checkEntries(name, data); err != nil {
		return nil, err
	}
	var k koFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&k); err != nil && err != io.EOF {
		return nil, koError(name, err)
	}
	f := &File{Path: name}
	f.Base = k.DefaultBaseImage
	f.Platforms = k.DefaultPlatforms
	f.Flags, f.Ldflags = k.DefaultFlags, k.DefaultLdflags
	var err error
	if f.BuildEnv, err = envMap("defaultEnv", k.DefaultEnv); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	f.Targets = map[string]Settings{}
	for i, b := range k.Builds {
		where := fmt.Sprintf("builds[%d]", i)
		if b.ID != "" {
			where += " (id " + b.ID + ")"
		}
		dir := path.Join(".", filepath.ToSlash(b.Dir), filepath.ToSlash(b.Main))
		if strings.HasSuffix(dir, ".go") {
			dir = path.Dir(dir)
		}
		if dir == ".." || strings.HasPrefix(dir, "../") {
			return nil, fmt.Errorf("%s: %s: dir and main lead out of the project (%s); kiln reads .ko.yaml at each module's root", name, where, dir)
		}
		t := f.Targets[dir]
		t.Flags, t.Ldflags = b.Flags, b.Ldflags
		if t.BuildEnv, err = envMap(where+".env", b.Env); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		f.Targets[dir] = t
	}
	for ip, ref := range k.BaseImageOverrides {
		rel, ok := relImportPath(strings.ToLower(ip), strings.ToLower(module))
		if !ok {
			return nil, fmt.Errorf("%s: baseImageOverrides: %s is not a package of module %s; kiln keys overrides by the package's directory in the module", name, ip, cmpOr(module, "(no go.mod)"))
		}
		t := f.Targets[rel]
		t.Base = ref
		f.Targets[rel] = t
	}
	if err := f.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return f, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// relImportPath is ip's directory relative to module's root.
func relImportPath(ip, module string) (string, bool) {
	if module == "" {
		return "", false
	}
	if ip == module {
		return ".", true
	}
	rel, ok := strings.CutPrefix(ip, module+"/")
	return rel, ok
}

func envMap(field string, env []string) (map[string]string, error) {
	if len(env) == 0 {
		return nil, nil
	}
	m := map[string]string{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s: %q is not NAME=value", field, kv)
		}
		m[k] = v
	}
	return m, nil
}

// koError names the key of .ko.yaml kiln does not honour.
func koError(name string, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("%s: malformed YAML: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var msgs []string
	for _, e := range te.Errors {
		if m := unknownField().FindStringSubmatch(e); m != nil {
			msgs = append(msgs, fmt.Sprintf("%s:%s: kiln cannot honour %q (it reads defaultBaseImage, baseImageOverrides, defaultPlatforms, defaultEnv, defaultFlags, defaultLdflags and builds[] id, dir, main, env, flags, ldflags; see docs/config.md); remove it, or write a kiln.yaml", name, m[1], m[2]))
			continue
		}
		msgs = append(msgs, name+": "+e)
	}
	return errors.New(strings.Join(msgs, "\n"))
}
