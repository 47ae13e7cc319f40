package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// labelsFile is a kiln.yaml with n labels, written as format (with the
// label's number).
func labelsFile(n int, format string) []byte {
	var b strings.Builder
	b.WriteString("name: app\nlabels:\n")
	for i := range n {
		fmt.Fprintf(&b, format, i)
	}
	return []byte(b.String())
}

// A map with an absurd number of entries is refused, by key and line,
// before the YAML library's quadratic duplicate check runs on it (100,000
// labels took 75 seconds, and were accepted).
func TestParseRejectsHugeMap(t *testing.T) {
	// Written out, 100,000 labels are over the size limit.
	_, err := Parse("kiln.yaml", labelsFile(100_000, "  org.example.label%d: value\n"))
	if err == nil || !strings.Contains(err.Error(), "kiln.yaml is larger than 1 MiB") {
		t.Errorf("Parse of 100000 labels = %v, want it refused as larger than 1 MiB", err)
	}
	// Tersely, they are not.
	data := labelsFile(100_000, "  %x:\n")
	if len(data) > MaxFileSize {
		t.Fatalf("the terse file has %d bytes", len(data))
	}
	_, err = Parse("kiln.yaml", data)
	if err == nil {
		t.Fatal("Parse accepted 100000 labels")
	}
	for _, want := range []string{"kiln.yaml:2", "labels", "100000 entries", "10000"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Parse of 100000 labels = %q, want it to mention %q", err, want)
		}
	}
	// Under targets, and lists too.
	var b strings.Builder
	b.WriteString("targets:\n  cmd/api:\n    flags:\n")
	for range 10_001 {
		b.WriteString("      - -v\n")
	}
	_, err = Parse("kiln.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "targets.cmd/api.flags") || !strings.Contains(err.Error(), "kiln.yaml:3") {
		t.Errorf("Parse of 10001 flags = %v, want an error naming targets.cmd/api.flags at line 3", err)
	}
}

// Realistic files, even generous ones, still parse, and fast.
func TestParseLargeButReasonable(t *testing.T) {
	start := time.Now()
	f, err := Parse("kiln.yaml", labelsFile(2000, "  org.example.label%d: a value\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Labels) != 2000 {
		t.Errorf("got %d labels, want 2000", len(f.Labels))
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("parsing 2000 labels took %v", d)
	}
}

func TestLoadRejectsLargeFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, FileName)
	data := append([]byte("name: app\n# "), make([]byte, 0, MaxFileSize)...)
	data = append(data, strings.Repeat("x", MaxFileSize)...)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "1 MiB") {
		t.Errorf("Load of a %d-byte kiln.yaml = %v, want an error naming %s and the 1 MiB limit", len(data), err, p)
	}
	if _, err := Parse("kiln.yaml", data); err == nil || !strings.Contains(err.Error(), "1 MiB") {
		t.Errorf("Parse of %d bytes = %v, want an error naming the 1 MiB limit", len(data), err)
	}
}

// A kiln.yaml that is a link to nothing is a mistake to report, not a
// missing file.
func TestLoadDanglingSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "configs", "kiln.yaml")
	p := filepath.Join(dir, FileName)
	if err := os.Symlink(target, p); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	_, err := Load(dir)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), target) {
		t.Errorf("Load with a dangling kiln.yaml link = %v, want an error naming %s and %s", err, p, target)
	}
	// Once the target exists, the link is followed.
	os.MkdirAll(filepath.Dir(target), 0o755)
	os.WriteFile(target, []byte("name: linked\n"), 0o644)
	if f, err := Load(dir); err != nil || f.Name != "linked" {
		t.Errorf("Load through a link = %+v, %v", f, err)
	}
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{
		"hello", "team/hello", "example.com/team/hello", "localhost:5000/a/b", "127.0.0.1:5000/app",
		"a.b_c__d-e--f/g", "ghcr.io/org/" + strings.Repeat("a", 240), strings.Repeat("a", 255),
	} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("ValidateName(%q) = %v", ok, err)
		}
	}
	tests := []struct{ name, want string }{
		{strings.Repeat("a", 300), "300 characters"},
		{strings.Repeat("a", 300), "255"},
		{"ghcr.io/org/" + strings.Repeat("a", 252), "256 characters"},
		{"Hello", "uppercase"},
		{"Hello", `"hello"`},
		{"example.com/Team/app", "uppercase"},
		{"hello world", `" "`},
		{"app:v1", `":"`},
		{"app@sha256", `"@"`},
		{"héllo", `"é"`},
		{"", "empty"},
		{"team//app", "empty path component"},
		{"team/app/", "empty path component"},
		{"-app", "start and end with a letter or digit"},
		{"app-", "start and end with a letter or digit"},
		{"a..b", "separators"},
		{"a._b", "separators"},
		{"a___b", "separators"},
		{"bad_host.example.com:x/app", "registry"},
	}
	for _, tt := range tests {
		err := ValidateName(tt.name)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ValidateName(%.40q) = %v, want an error mentioning %s", tt.name, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "uppercase") && strings.ToLower(tt.name) == tt.name {
			t.Errorf("ValidateName(%.40q) = %v blames the letters' case", tt.name, err)
		}
	}
	// A long name is shortened in the message.
	if err := ValidateName(strings.Repeat("a", 5000)); err == nil || len(err.Error()) > 400 {
		t.Errorf("ValidateName of 5000 characters = %v", err)
	}
}
