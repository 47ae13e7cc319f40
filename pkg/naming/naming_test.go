package naming

import (
	"testing"
)

// The names ko v0.19.1 gives (see docs/registries.md), checked against
// ko's own output for these import paths.
func TestName(t *testing.T) {
	repo := "127.0.0.1:5055/demo"
	for _, c := range []struct{ naming, ip, want string }{
		{Default, "example.com/demo/cmd/app", repo + "/app-21e5d1028def5ef6d996164796d5bc03"},
		{"", "example.com/demo/cmd/app", repo + "/app-21e5d1028def5ef6d996164796d5bc03"},
		{Default, "example.com/demo/cmd/MixedCase", repo + "/mixedcase-a00cf2821930cade59d03f05cc8f11f0"},
		{Base, "example.com/demo/cmd/app", repo + "/app"},
		{Preserve, "example.com/demo/cmd/MixedCase", repo + "/example.com/demo/cmd/mixedcase"},
		{Bare, "example.com/demo/cmd/app", repo},
	} {
		if got := Name(repo, c.naming, c.ip); got != c.want {
			t.Errorf("Name(%q, %q) = %q, want %q", c.naming, c.ip, got, c.want)
		}
	}
}
