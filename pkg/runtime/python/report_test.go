package python

import (
	"os"
	"path/filepath"
	"testing"
)

// TestReadReport reads pip's installation report: names, versions, the
// wheel's file name and SHA-256, and the license METADATA states.
func TestReadReport(t *testing.T) {
	report := `{"version": "1", "pip_version": "23.2.1", "install": [
	  {"download_info": {"url": "file:///w/zlib_thing-2.0-cp311-cp311-manylinux_2_17_x86_64.whl",
	     "archive_info": {"hash": "sha256=` + "aa" + `", "hashes": {"sha256": "abc123"}}},
	   "metadata": {"name": "zlib_thing", "version": "2.0", "license_expression": "Apache-2.0"}},
	  {"download_info": {"url": "https://files.example/packages/a/alpha-1.0-py3-none-any.whl",
	     "archive_info": {"hash": "sha256=def456"}},
	   "metadata": {"name": "alpha", "version": "1.0", "license": "UNKNOWN",
	     "classifier": ["Programming Language :: Python", "License :: OSI Approved :: MIT License"]}},
	  {"download_info": {"url": "file:///w/beta-3.1-py3-none-any.whl", "archive_info": {"hashes": {"sha256": "0f"}}},
	   "metadata": {"name": "beta", "version": "3.1", "license": "BSD-3-Clause"}}
	]}`
	p := filepath.Join(t.TempDir(), "report.json")
	if err := os.WriteFile(p, []byte(report), 0o644); err != nil {
		t.Fatal(err)
	}
	pkgs, err := readReport(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ name, version, file, sha, license string }{
		{"alpha", "1.0", "alpha-1.0-py3-none-any.whl", "def456", "MIT License"},
		{"beta", "3.1", "beta-3.1-py3-none-any.whl", "0f", "BSD-3-Clause"},
		{"zlib_thing", "2.0", "zlib_thing-2.0-cp311-cp311-manylinux_2_17_x86_64.whl", "abc123", "Apache-2.0"},
	}
	if len(pkgs) != len(want) {
		t.Fatalf("%d packages, want %d: %+v", len(pkgs), len(want), pkgs)
	}
	for i, w := range want {
		g := pkgs[i]
		if g.Type != "pypi" || g.Name != w.name || g.Version != w.version || g.File != w.file || g.SHA256 != w.sha || g.License != w.license {
			t.Errorf("package %d: %+v, want %+v", i, g, w)
		}
	}
	if err := os.WriteFile(p, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readReport(p); err == nil {
		t.Error("a corrupt report was accepted")
	}
}
