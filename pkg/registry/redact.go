package registry

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kiln-build/kiln/internal/lazy"
)

// Redacted stands in for the secrets Redact removes.
const Redacted = "xxxxx"

// The expressions are compiled on first use: compiled when the package
// was initialised, they cost every kiln command a millisecond.
var (
	// userinfoRE finds a user part before a host: after the start, a
	// space, a quote or a bracket, any schemes ("https://"), then
	// "user:password@" or "token@". Whether it is one is decided by
	// isUserinfo, from what follows the @.
	userinfoRE = lazy.Regexp("(?:^|[\\s\"'`(\\[<,;=])((?:[A-Za-z][A-Za-z0-9+.-]*://)*)([^\\s/@\"'`<>]+)@")
	// hostRE is what follows a user part: a host and maybe a port.
	hostRE = lazy.Regexp(`^[A-Za-z0-9.-]+(?::[0-9]{1,5})?`)
	// digestRE is what follows the @ of a reference by digest.
	digestRE = lazy.Regexp(`^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[A-Za-z0-9=_-]{32,}`)
	// secretParamRE finds query parameters (and key=value words) that
	// carry secrets: access_token=, token=, password=, X-Amz-Signature=…
	secretParamRE = lazy.Regexp("(?i)(?:^|[?&;\\s\"'`(])[A-Za-z0-9_.-]*(?:token|passw|pwd|secret|key|auth|sig|credential|session)[A-Za-z0-9_.-]*=([^&#\\s\"'`<>)]*)")
)

// Redact removes credentials from a reference, URL or message that quotes
// one: the user part before a host ("user:password@host/repo",
// "https://token@host", which become "xxxxx@host/…") and the values of
// query parameters named like secrets (?access_token=, &password=,
// ?X-Amz-Signature=). References by digest (app@sha256:…) and e-mail
// addresses in prose are left alone. A password holding an unescaped "/"
// is beyond it: such a string does not parse as a URL either.
func Redact(s string) string {
	return cut(s, secretSpans(s))
}

// secretSpans returns where the secrets in s are, in order.
func secretSpans(s string) [][2]int {
	var spans [][2]int
	if strings.Contains(s, "@") {
		for _, m := range userinfoRE().FindAllStringSubmatchIndex(s, -1) {
			schemes, user, rest := s[m[2]:m[3]], s[m[4]:m[5]], s[m[1]:]
			if user != Redacted && isUserinfo(schemes != "", strings.Contains(user, ":"), rest) {
				spans = append(spans, [2]int{m[4], m[5]})
			}
		}
	}
	if strings.Contains(s, "=") {
		for _, m := range secretParamRE().FindAllStringSubmatchIndex(s, -1) {
			if v := s[m[2]:m[3]]; v != "" && v != Redacted {
				spans = append(spans, [2]int{m[2], m[3]})
			}
		}
	}
	slices.SortFunc(spans, func(a, b [2]int) int { return a[0] - b[0] })
	return spans
}

// cut replaces the spans of s by Redacted.
func cut(s string, spans [][2]int) string {
	if len(spans) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, sp := range spans {
		if sp[0] < last {
			continue
		}
		b.WriteString(s[last:sp[0]])
		b.WriteString(Redacted)
		last = sp[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

// isUserinfo decides whether "x@" followed by rest is a user part. After a
// scheme it always is; "user:password@" is unless rest is a digest
// (repo:tag@sha256:…); a bare "token@" is when a host and a path follow,
// as in a reference, so an e-mail address in prose is kept.
func isUserinfo(scheme, colon bool, rest string) bool {
	if scheme {
		return true
	}
	if digestRE().MatchString(rest) {
		return false
	}
	host := hostRE().FindString(rest)
	if host == "" {
		return false
	}
	return colon || strings.HasPrefix(rest[len(host):], "/")
}

// secretsIn lists the secrets in what the user gave (a reference, a
// repository, or a registry host when isHost, where anything before an @
// is a user part), longest first, so that they can be removed from
// messages that quote the input in pieces.
func secretsIn(s string, isHost bool) []string {
	var out []string
	add := func(v string) {
		if len(v) >= 4 && v != Redacted {
			out = append(out, v)
		}
	}
	for _, sp := range secretSpans(s) {
		v := s[sp[0]:sp[1]]
		add(v)
		if _, pw, ok := strings.Cut(v, ":"); ok {
			add(pw)
		}
	}
	if i := strings.LastIndex(s, "@"); isHost && i >= 0 {
		user := s[:i]
		if j := strings.LastIndex(user, "://"); j >= 0 {
			user = user[j+3:]
		}
		add(user)
		if _, pw, ok := strings.Cut(user, ":"); ok {
			add(pw)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// redactedError is err with the message redacted; errors.Is and As still
// see err.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactString removes from s the secrets (from secretsIn) and those
// Redact finds.
func redactString(s string, secrets []string) string {
	for _, sec := range secrets {
		s = strings.ReplaceAll(s, sec, Redacted)
	}
	return Redact(s)
}

// redactErr returns err with its message passed through redactString.
func redactErr(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if r := redactString(msg, secrets); r != msg {
		return &redactedError{msg: r, err: err}
	}
	return err
}

// parseError says that s, given by the user, is not what was expected,
// without the credentials s may hold; if it holds some, it says where they
// belong instead. err, the parser's error, is wrapped.
func parseError(s string, isHost bool, what string, err error) error {
	secrets := secretsIn(s, isHost)
	hint := ""
	if shown := redactString(s, secrets); shown != s {
		s, hint = shown, " (credentials do not belong there: log in with 'kiln login REGISTRY' instead)"
	}
	return redactErr(fmt.Errorf("%q %s%s: %w", s, what, hint, err), secrets...)
}
