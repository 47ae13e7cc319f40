package config

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/kiln-build/kiln/internal/lazy"
)

// MaxNameLength is the longest repository path (the name without its
// registry host) an image may have: the OCI distribution spec's limit, as
// go-containerregistry enforces it.
const MaxNameLength = 255

// pathComponentRE is one component of a repository path, per the OCI
// distribution spec.
var pathComponentRE = lazy.Regexp(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)

// ValidateName checks an image name (a repository: "hello",
// "team/hello", "example.com:5000/team/hello") and says what is wrong
// with it: its length, upper case, characters images cannot hold, or the
// shape of a path component.
func ValidateName(n string) error {
	if n == "" {
		return errors.New("name is empty: give the image a name such as hello or example.com/team/hello")
	}
	host, path := splitName(n)
	var problems []string
	if host != "" {
		if _, err := name.NewRegistry(host); err != nil {
			problems = append(problems, fmt.Sprintf("its registry part %q is not a host[:port]", host))
		}
	}
	if l := utf8.RuneCountInString(path); l > MaxNameLength {
		problems = append(problems, fmt.Sprintf("its repository path is %d characters long, more than the %d the OCI distribution spec allows", l, MaxNameLength))
	}
	var bad []string
	upper := false
	for _, r := range path {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', strings.ContainsRune("._-/", r):
		case unicode.IsUpper(r) && r < utf8.RuneSelf:
			upper = true
		default:
			if q := fmt.Sprintf("%q", string(r)); !contains(bad, q) && len(bad) < 10 {
				bad = append(bad, q)
			}
		}
	}
	if upper {
		msg := "it has uppercase letters, and image names are lowercase"
		if len(bad) == 0 {
			msg += ": use " + shorten(host+sep(host)+strings.ToLower(path))
		}
		problems = append(problems, msg)
	}
	if len(bad) > 0 {
		problems = append(problems, fmt.Sprintf("it has %s, which image names cannot hold: use lowercase letters, digits, '.', '_', '-' and '/'", strings.Join(bad, ", ")))
	}
	if !upper && len(bad) == 0 {
		problems = append(problems, componentProblems(path)...)
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("name %s is not a valid image name: %s", shorten(n), strings.Join(problems, "; "))
}

// splitName splits off the registry host the way image references do: a
// first component that is localhost or holds '.' or ':'.
func splitName(n string) (host, path string) {
	first, rest, ok := strings.Cut(n, "/")
	if ok && (first == "localhost" || strings.ContainsAny(first, ".:")) {
		return first, rest
	}
	return "", n
}

func sep(host string) string {
	if host == "" {
		return ""
	}
	return "/"
}

// componentProblems checks the components of a path made only of allowed
// characters.
func componentProblems(path string) []string {
	var out []string
	empty := false
	for _, c := range strings.Split(path, "/") {
		switch {
		case c == "":
			if !empty {
				out = append(out, "it has an empty path component (a leading, trailing or doubled '/')")
				empty = true
			}
		case pathComponentRE().MatchString(c):
		case !isAlnum(c[0]) || !isAlnum(c[len(c)-1]):
			out = append(out, fmt.Sprintf("each path component must start and end with a letter or digit, and %s does not", shorten(c)))
		default:
			out = append(out, fmt.Sprintf("in %s, the separators between letters and digits may only be one '.', one or two '_', or dashes", shorten(c)))
		}
	}
	return out
}

func isAlnum(b byte) bool { return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// shorten quotes s, cut to its first 40 characters if it is long.
func shorten(s string) string {
	if utf8.RuneCountInString(s) <= 60 {
		return fmt.Sprintf("%q", s)
	}
	r := []rune(s)
	return fmt.Sprintf("%q… (%d characters)", string(r[:40]), len(r))
}
