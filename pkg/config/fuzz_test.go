package config

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzParse feeds kiln.yaml content to Parse. Errors must name the file;
// an accepted file must marshal back to YAML that Parse accepts and that
// marshals to the same text, and For must work for each of its targets.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"",
		fullFile,
		"name: app\nports: [8080]\n",
		"base: alpine\nuser: app\n",
		"runtime: python\ncommand: [python3, -m, app]\npython: {version: \"3.12\", libc: musl, module: app.main}\n",
		"labels: &l {a: b}\ntargets: {x: {labels: *l}}\n",
		"name: a\n---\nname: b\n",
		"nmae: typo\n",
		"ports: [70000]\n",
		"env: {\"A B\": c}\n",
		"data: [\"src:/\"]\n",
		"targets:\n  ./cmd/api:\n    kodata: false\n    data: [static]\n",
		"{{\n",
		"a: [[[[[[[[[[[[]]]]]]]]]]]]\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "fuzz/kiln.yaml"
		cfg, err := Parse(name, data)
		if err != nil {
			if msg := err.Error(); !strings.Contains(msg, name) {
				t.Fatalf("Parse error %q does not name the file", msg)
			}
			return
		}
		if cfg.Path != name {
			t.Fatalf("Path = %q, want %q", cfg.Path, name)
		}
		for k := range cfg.Targets {
			cfg.For(k)
			cfg.For(strings.TrimPrefix(k, "./"))
		}
		cfg.PlatformList()
		out, err := marshalSet(cfg)
		if err != nil {
			t.Fatalf("marshalling an accepted file: %v", err)
		}
		if len(out) > MaxFileSize {
			return // aliases expanded past the size limit
		}
		again, err := Parse(name, out)
		if err != nil {
			t.Fatalf("Parse of its own marshalled form failed: %v\n--- input\n%s\n--- marshalled\n%s", err, data, out)
		}
		out2, err := marshalSet(again)
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != string(out2) {
			t.Fatalf("marshal, parse, marshal changed the file:\n%s\n---\n%s", out, out2)
		}
	})
}

// marshalSet marshals f with only the keys that are set: the struct's
// zero values (command: [], user: "") mean "unset" only when left out.
func marshalSet(f *File) ([]byte, error) {
	var n yaml.Node
	if err := n.Encode(f); err != nil {
		return nil, err
	}
	prune(&n)
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "targets" {
			for _, t := range n.Content[i+1].Content {
				prune(t)
			}
		}
	}
	return yaml.Marshal(&n)
}

// prune drops the entries of mapping n whose values are null, "", [] or {}.
func prune(n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		return
	}
	var keep []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		v := n.Content[i+1]
		empty := (v.Kind == yaml.ScalarNode && (v.Tag == "!!null" || (v.Value == "" && v.Tag == "!!str"))) ||
			((v.Kind == yaml.SequenceNode || v.Kind == yaml.MappingNode) && len(v.Content) == 0)
		if !empty {
			keep = append(keep, n.Content[i], v)
		}
	}
	n.Content = keep
}
