package config

import (
	"fmt"
	"strings"
	"text/template"
)

// TemplateData is what the templates in kiln.yaml values can use, e.g.
// "-X main.version={{.Git.Tag}}" or "{{.Date}}".
type TemplateData struct {
	Git struct {
		Commit      string // full commit hash of HEAD, "" outside git
		ShortCommit string // first 12 characters of Commit
		Tag         string // tag pointing at HEAD, "" if none
	}
	Date      string            // the source date, RFC 3339 (see docs/reproducibility.md)
	Timestamp int64             // the source date, Unix seconds
	Env       map[string]string // the environment kiln runs in
}

// Expand runs s as a template over data. field names the setting in errors.
func Expand(field, s string, data *TemplateData) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	t, err := template.New(field).Option("missingkey=error").Parse(s)
	if err != nil {
		return "", fmt.Errorf("%s: bad template %q: %w", field, s, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("%s: template %q: %w (available: .Git.Commit, .Git.ShortCommit, .Git.Tag, .Date, .Timestamp, .Env.NAME)", field, s, err)
	}
	return b.String(), nil
}

// ExpandAll expands every element of list.
func ExpandAll(field string, list []string, data *TemplateData) ([]string, error) {
	out := make([]string, len(list))
	for i, s := range list {
		v, err := Expand(field, s, data)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// ExpandMap expands every value of m and returns "KEY=value" entries in key
// order.
func ExpandMap(field string, m map[string]string, data *TemplateData) ([]string, error) {
	var out []string
	for _, k := range SortedKeys(m) {
		v, err := Expand(field+"."+k, m[k], data)
		if err != nil {
			return nil, err
		}
		out = append(out, k+"="+v)
	}
	return out, nil
}
