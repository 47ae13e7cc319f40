package config

import (
	"slices"
	"strings"
	"testing"
)

func testData() *TemplateData {
	d := &TemplateData{
		Date:      "2023-11-14T22:13:20Z",
		Timestamp: 1700000000,
		Env:       map[string]string{"REGION": "eu-west-1", "EMPTY": ""},
	}
	d.Git.Commit = "0123456789abcdef0123456789abcdef01234567"
	d.Git.ShortCommit = "0123456789ab"
	d.Git.Tag = "v1.2.3"
	return d
}

func TestExpand(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"plain", "plain"},
		{"", ""},
		{"{{.Git.Commit}}", "0123456789abcdef0123456789abcdef01234567"},
		{"-X main.commit={{.Git.ShortCommit}}", "-X main.commit=0123456789ab"},
		{"-X main.version={{.Git.Tag}}", "-X main.version=v1.2.3"},
		{"built {{.Date}} ({{.Timestamp}})", "built 2023-11-14T22:13:20Z (1700000000)"},
		{"{{.Env.REGION}}", "eu-west-1"},
		{"[{{.Env.EMPTY}}]", "[]"},
		{`{{if .Git.Tag}}{{.Git.Tag}}{{else}}dev{{end}}`, "v1.2.3"},
		// No "{{": not a template, so a lone brace or "}}" is kept as is.
		{"a } b }}", "a } b }}"},
	}
	for _, tt := range tests {
		got, err := Expand("ldflags", tt.in, testData())
		if err != nil || got != tt.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestExpandErrors(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		// A variable missing from the environment is an error, not "".
		{"{{.Env.NOPE}}", []string{"labels.version:", `"{{.Env.NOPE}}"`, "NOPE", ".Env.NAME"}},
		{"{{.Git.Branch}}", []string{"labels.version:", "Branch", "available:", ".Git.Commit"}},
		{"{{.Version}}", []string{"labels.version:", "Version"}},
		{"{{.Git.Tag", []string{"labels.version:", "bad template", `"{{.Git.Tag"`}},
		{"{{nofunc .Date}}", []string{"labels.version:", "bad template", "nofunc"}},
	}
	for _, tt := range tests {
		got, err := Expand("labels.version", tt.in, testData())
		if err == nil {
			t.Errorf("Expand(%q) = %q, want an error", tt.in, got)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Expand(%q) error %q does not contain %q", tt.in, err, w)
			}
		}
	}
}

func TestExpandAll(t *testing.T) {
	got, err := ExpandAll("flags", []string{"-tags=a", "-X v={{.Git.Tag}}", "{{.Env.REGION}}"}, testData())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"-tags=a", "-X v=v1.2.3", "eu-west-1"}; !slices.Equal(got, want) {
		t.Errorf("ExpandAll = %q, want %q", got, want)
	}

	if got, err := ExpandAll("flags", nil, testData()); err != nil || len(got) != 0 {
		t.Errorf("ExpandAll(nil) = %q, %v; want empty", got, err)
	}

	got, err = ExpandAll("flags", []string{"ok", "{{.Env.MISSING}}"}, testData())
	if err == nil {
		t.Fatalf("ExpandAll with a missing variable = %q, want an error", got)
	}
	if !strings.Contains(err.Error(), "flags:") || !strings.Contains(err.Error(), "MISSING") {
		t.Errorf("error %q does not name the field and variable", err)
	}
}

func TestExpandMap(t *testing.T) {
	m := map[string]string{
		"VERSION": "{{.Git.Tag}}",
		"A_FIRST": "x",
		"REGION":  "{{.Env.REGION}}",
	}
	got, err := ExpandMap("env", m, testData())
	if err != nil {
		t.Fatal(err)
	}
	// Sorted by key, whatever the map order.
	if want := []string{"A_FIRST=x", "REGION=eu-west-1", "VERSION=v1.2.3"}; !slices.Equal(got, want) {
		t.Errorf("ExpandMap = %q, want %q", got, want)
	}

	if got, err := ExpandMap("env", nil, testData()); err != nil || len(got) != 0 {
		t.Errorf("ExpandMap(nil) = %q, %v; want empty", got, err)
	}

	_, err = ExpandMap("env", map[string]string{"OK": "1", "BAD": "{{.Git.Nope}}"}, testData())
	if err == nil || !strings.Contains(err.Error(), "env.BAD:") {
		t.Errorf("ExpandMap error = %v, want one naming env.BAD", err)
	}
}
