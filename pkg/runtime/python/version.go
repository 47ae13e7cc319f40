package python

import (
	"fmt"
	"strconv"
	"strings"
)

// MaintainedVersions returns the CPython minor versions with upstream
// support (as of this kiln release), oldest first: the default base is the
// oldest of them that requires-python allows.
func MaintainedVersions() []string { return []string{"3.11", "3.12", "3.13", "3.14"} }

// DefaultVersion is the Python of the default base when the project sets
// no requires-python.
const DefaultVersion = "3.13"

// DefaultBase is the base image for a project: the official slim Python
// image of the oldest maintained minor version requires-python allows.
func DefaultBase(requires string) (string, error) {
	v, err := DefaultMinor(requires)
	if err != nil {
		return "", err
	}
	return "docker.io/library/python:" + v + "-slim", nil
}

// DefaultMinor is the Python minor version DefaultBase picks.
func DefaultMinor(requires string) (string, error) {
	return DefaultMinorOf(requires, nil)
}

// DefaultMinorOf is the oldest of the minor versions maintained (oldest
// first; nil means MaintainedVersions()) that requires allows, or
// DefaultVersion when requires is empty.
func DefaultMinorOf(requires string, maintained []string) (string, error) {
	if strings.TrimSpace(requires) == "" {
		return DefaultVersion, nil
	}
	if maintained == nil {
		maintained = MaintainedVersions()
	}
	for _, v := range maintained {
		ok, err := allowsMinor(requires, v)
		if err != nil {
			return "", err
		}
		if ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("requires-python %q allows none of the maintained Python versions (%s): set base: in kiln.yaml to an image with a Python it allows", requires, strings.Join(maintained, ", "))
}

// allowsMinor reports whether some release of minor version xy (X.Y.0 to
// X.Y.40) satisfies spec, as the newest patch of an image tag would.
func allowsMinor(spec, xy string) (bool, error) {
	for patch := 40; patch >= 0; patch-- {
		ok, err := Allows(spec, fmt.Sprintf("%s.%d", xy, patch))
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// Allows reports whether version (e.g. "3.12.7") satisfies the PEP 440
// version specifier spec (e.g. ">=3.10,<4"). Pre- and post-release parts
// are ignored: kiln compares Python versions, which are plain releases.
func Allows(spec, version string) (bool, error) {
	v, err := parseRelease(version)
	if err != nil {
		return false, err
	}
	for _, clause := range strings.Split(spec, ",") {
		clause = strings.TrimSpace(clause)
		if clause == "" {
			continue
		}
		ok, err := allowsClause(clause, version, v)
		if err != nil {
			return false, fmt.Errorf("requires-python %q: %w", spec, err)
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

func allowsClause(clause, raw string, v []int) (bool, error) {
	var op string
	for _, o := range []string{"===", "~=", "==", "!=", "<=", ">=", "<", ">"} {
		if strings.HasPrefix(clause, o) {
			op = o
			break
		}
	}
	if op == "" {
		return false, fmt.Errorf("%q has no operator (==, !=, >=, <=, >, <, ~=)", clause)
	}
	arg := strings.TrimSpace(clause[len(op):])
	if op == "===" {
		return arg == raw, nil
	}
	wild := strings.HasSuffix(arg, ".*")
	if wild {
		if op != "==" && op != "!=" {
			return false, fmt.Errorf("%q: a .* suffix only goes with == and !=", clause)
		}
		arg = strings.TrimSuffix(arg, ".*")
	}
	w, err := parseRelease(arg)
	if err != nil {
		return false, err
	}
	switch op {
	case "==":
		if wild {
			return hasPrefix(v, w), nil
		}
		return compare(v, w) == 0, nil
	case "!=":
		if wild {
			return !hasPrefix(v, w), nil
		}
		return compare(v, w) != 0, nil
	case "<=":
		return compare(v, w) <= 0, nil
	case ">=":
		return compare(v, w) >= 0, nil
	case "<":
		return compare(v, w) < 0, nil
	case ">":
		return compare(v, w) > 0, nil
	case "~=":
		if len(w) < 2 {
			return false, fmt.Errorf("%q: ~= needs at least two version parts, e.g. ~=3.11", clause)
		}
		return compare(v, w) >= 0 && hasPrefix(v, w[:len(w)-1]), nil
	}
	return false, nil
}

// parseRelease reads the release part of a version: "3.12.0rc1" -> [3 12 0].
func parseRelease(s string) ([]int, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	if i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' }); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSuffix(s, ".")
	if s == "" {
		return nil, fmt.Errorf("%q is not a version", s)
	}
	var out []int
	for _, part := range strings.Split(s, ".") {
		n, err := strconv.Atoi(part)
		if err != nil {
			return nil, fmt.Errorf("%q is not a version", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func compare(a, b []int) int {
	for i := range max(len(a), len(b)) {
		x, y := at(a, i), at(b, i)
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

func at(v []int, i int) int {
	if i < len(v) {
		return v[i]
	}
	return 0
}

func hasPrefix(v, prefix []int) bool {
	for i, p := range prefix {
		if at(v, i) != p {
			return false
		}
	}
	return true
}

// MinorOf returns "X.Y" of a version such as "3.12.7".
func MinorOf(version string) (string, error) {
	v, err := parseRelease(version)
	if err != nil || len(v) < 2 {
		return "", fmt.Errorf("%q is not a Python version like 3.12 or 3.12.7", version)
	}
	return fmt.Sprintf("%d.%d", v[0], v[1]), nil
}
