package resolve

import (
	"bytes"
	"strings"
	"testing"
)

const input = "# leading comment\r\n" + `---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app   # trailing comment
spec:
    template:
        spec:
            containers:
            - name: app
              image: ko://example.com/demo/cmd/app
              env:
              - name: SIDECAR
                value: "ko://example.com/demo/cmd/worker"
              - name: LONG
                value: >-
                  folded
                  text
            - image: 'kiln://./cmd/worker'
...
---
# only a comment
---
kind: ConfigMap
data:
  ko://example.com/demo/cmd/app: key-is-a-ref
  list:
  -   ko://example.com/demo/cmd/MixedCase  
  - "not ko://here"
  - ko:/nope
flow: [ko://example.com/demo/cmd/worker, b]
notstr: !!str ko://example.com/demo/cmd/app
anchored: &img ko://example.com/demo/cmd/app
alias: *img
block: |
  ko://example.com/demo/cmd/app
unicode: "é" # é
after: ko://example.com/é/x
`

func TestParseAndReplace(t *testing.T) {
	f, err := Parse("in.yaml", []byte(input))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range f.Refs {
		got = append(got, r.Scheme+r.Target)
	}
	want := []string{
		"ko://example.com/demo/cmd/app", "ko://example.com/demo/cmd/worker", "kiln://./cmd/worker",
		"ko://example.com/demo/cmd/app", "ko://example.com/demo/cmd/MixedCase", "ko://example.com/demo/cmd/worker",
		"ko://example.com/demo/cmd/app", "ko://example.com/demo/cmd/app", "ko://example.com/demo/cmd/app", "ko://example.com/é/x",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("refs\n%q\nwant\n%q", got, want)
	}
	if f.Refs[0].Line != 12 {
		t.Errorf("first reference on line %d, want 12", f.Refs[0].Line)
	}
	out := f.Replace(func(r Ref) string { return "reg.example/" + strings.ToUpper(r.Target) + "@sha256:1" })
	// The expected output is the input with exactly the references'
	// text replaced.
	exp := input
	for _, w := range []string{"ko://example.com/demo/cmd/app", "ko://example.com/demo/cmd/worker", "kiln://./cmd/worker", "ko://example.com/demo/cmd/MixedCase", "ko://example.com/é/x"} {
		_, target, _ := strings.Cut(w, "://")
		exp = strings.ReplaceAll(exp, w, "reg.example/"+strings.ToUpper(target)+"@sha256:1")
	}
	exp = strings.Replace(exp, "\"not reg.example/HERE@sha256:1\"", "\"not ko://here\"", 1)
	if !bytes.Equal(out, []byte(exp)) {
		t.Errorf("output\n%s\nwant\n%s", out, exp)
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"a: [b\n", "x.yaml: malformed YAML"},
		{"a: ko://\n", "x.yaml:1: ko:// names no program"},
		{"a: \"ko://\\x61pp\"\n", "x.yaml:1: ko://app: the reference is written with escapes"},
	} {
		_, err := Parse("x.yaml", []byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.in, err, c.want)
		}
	}
}

func TestJoin(t *testing.T) {
	var b bytes.Buffer
	if err := Join(&b, [][]byte{[]byte("a: 1"), []byte("b: 2\n"), []byte("c: 3")}); err != nil {
		t.Fatal(err)
	}
	if b.String() != "a: 1\n---\nb: 2\n---\nc: 3" {
		t.Errorf("%q", b.String())
	}
}
