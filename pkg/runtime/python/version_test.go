package python

import (
	"slices"
	"strings"
	"testing"
)

func TestDefaultMinorOf(t *testing.T) {
	older := []string{"3.9", "3.10", "3.11"}
	for _, tc := range []struct {
		requires   string
		maintained []string
		want       string
	}{
		{">=3.8", older, "3.9"},
		{">=3.10", older, "3.10"},
		{"<3.11", []string{"3.11", "3.12"}, ""}, // none allowed
		{"", older, DefaultVersion},             // no requires-python: the default
		{">=3.8", nil, MaintainedVersions()[0]}, // nil: this release's list
		{">=3.12", nil, "3.12"},
	} {
		got, err := DefaultMinorOf(tc.requires, tc.maintained)
		if tc.want == "" {
			if err == nil || !strings.Contains(err.Error(), strings.Join(tc.maintained, ", ")) {
				t.Errorf("DefaultMinorOf(%q, %q) = %q, %v; want an error naming the versions", tc.requires, tc.maintained, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("DefaultMinorOf(%q, %q) = %q, %v; want %q", tc.requires, tc.maintained, got, err, tc.want)
		}
	}
	// DefaultMinor is DefaultMinorOf with this release's list.
	for _, spec := range []string{"", ">=3.8", ">=3.12,<3.13", ">=3.10,!=3.11.*"} {
		a, errA := DefaultMinor(spec)
		b, errB := DefaultMinorOf(spec, MaintainedVersions())
		if a != b || (errA == nil) != (errB == nil) {
			t.Errorf("%q: DefaultMinor = %q, %v; DefaultMinorOf = %q, %v", spec, a, errA, b, errB)
		}
	}
}

func TestMaintainedVersions(t *testing.T) {
	v := MaintainedVersions()
	if !slices.IsSortedFunc(v, func(a, b string) int {
		pa, _ := parseRelease(a)
		pb, _ := parseRelease(b)
		return compare(pa, pb)
	}) {
		t.Errorf("MaintainedVersions() = %q, want oldest first", v)
	}
	if !slices.Contains(v, DefaultVersion) {
		t.Errorf("DefaultVersion %s is not maintained (%q)", DefaultVersion, v)
	}
	// A fresh slice each time: callers cannot change the defaults.
	v[0] = "2.7"
	if MaintainedVersions()[0] == "2.7" {
		t.Error("MaintainedVersions() can be changed through its result")
	}
}
