package python

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/kiln-build/kiln/pkg/runtime"
)

// maxReport bounds the pip installation report kiln reads.
const maxReport = 64 << 20

// pipReport is the part of pip's installation report (pip install
// --report) that the SBOM uses.
type pipReport struct {
	Install []struct {
		DownloadInfo struct {
			URL         string `json:"url"`
			ArchiveInfo struct {
				Hash   string            `json:"hash"`
				Hashes map[string]string `json:"hashes"`
			} `json:"archive_info"`
		} `json:"download_info"`
		Metadata struct {
			Name              string   `json:"name"`
			Version           string   `json:"version"`
			License           string   `json:"license"`
			LicenseExpression string   `json:"license_expression"`
			Classifiers       []string `json:"classifier"`
		} `json:"metadata"`
	} `json:"install"`
}

// readReport lists the distributions pip's report at p says it
// installed: name, version, the wheel's file name and SHA-256, and the
// license METADATA states (License-Expression, else License, else a
// "License ::" classifier).
func readReport(p string) ([]runtime.Package, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxReport+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxReport {
		return nil, fmt.Errorf("pip's installation report is larger than %d bytes", maxReport)
	}
	var r pipReport
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("reading pip's installation report: %w", err)
	}
	var out []runtime.Package
	for _, in := range r.Install {
		m, d := in.Metadata, in.DownloadInfo
		pkg := runtime.Package{Type: "pypi", Name: m.Name, Version: m.Version, License: license(m.LicenseExpression, m.License, m.Classifiers)}
		if u, err := url.Parse(d.URL); err == nil {
			pkg.File = path.Base(u.Path)
		}
		pkg.SHA256 = d.ArchiveInfo.Hashes["sha256"]
		if h, ok := strings.CutPrefix(d.ArchiveInfo.Hash, "sha256="); ok && pkg.SHA256 == "" {
			pkg.SHA256 = h
		}
		out = append(out, pkg)
	}
	slices.SortFunc(out, func(a, b runtime.Package) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// license is the license a distribution's METADATA declares.
func license(expression, text string, classifiers []string) string {
	if expression != "" {
		return expression
	}
	// License: sometimes holds the whole license text; only a short
	// name is useful in an SBOM.
	if t := strings.TrimSpace(text); t != "" && !strings.Contains(t, "\n") && len(t) <= 100 && !strings.EqualFold(t, "UNKNOWN") {
		return t
	}
	var names []string
	for _, c := range classifiers {
		if n, ok := strings.CutPrefix(c, "License :: "); ok {
			parts := strings.Split(n, " :: ")
			names = append(names, parts[len(parts)-1])
		}
	}
	return strings.Join(names, " AND ")
}
