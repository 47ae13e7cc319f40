package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

// secret stands for a password or token typed into a reference.
const secret = "T0PSECRET"

// refsWithSecrets are references with credentials in them, the ways
// people paste them into --push and --base.
var refsWithSecrets = []string{
	"user:" + secret + "@ghcr.io/org/app",
	"user:" + secret + "@ghcr.io/org/app:v1",
	"user:" + secret + "@127.0.0.1:5000/org/app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"https://user:" + secret + "@ghcr.io/org/app",
	"https://" + secret + "@ghcr.io/org/app",
	secret + "@ghcr.io/org/app",
	"ghcr.io/org/app?access_token=" + secret,
	"ghcr.io/org/app:v1?password=" + secret + "&x=1",
	"oci://user:" + secret + "@registry.example.com:443/app",
}

func TestMessagesHideSecrets(t *testing.T) {
	for _, insecure := range []bool{false, true} {
		o := Options{Insecure: insecure}
		for _, s := range refsWithSecrets {
			if _, err := o.ParseReference(s); err == nil {
				t.Errorf("ParseReference(%q) accepted it", s)
			} else if strings.Contains(err.Error(), secret) {
				t.Errorf("ParseReference(%q) = %q shows the secret", s, err)
			} else {
				var bad *name.ErrBadName
				if !errors.As(err, &bad) {
					t.Errorf("ParseReference(%q) = %q no longer wraps the parser's error", s, err)
				}
			}
			if _, err := o.ParseRepository(s); err == nil {
				t.Errorf("ParseRepository(%q) accepted it", s)
			} else if strings.Contains(err.Error(), secret) {
				t.Errorf("ParseRepository(%q) = %q shows the secret", s, err)
			}
			host, _, _ := strings.Cut(s, "/o")
			if _, err := Login(context.Background(), host, "u", "p", o); err == nil {
				t.Errorf("Login(%q) accepted it", host)
			} else if strings.Contains(err.Error(), secret) {
				t.Errorf("Login(%q) = %q shows the secret", host, err)
			}
		}
	}
	// Explain names the registry it is given and passes other errors on.
	for _, s := range refsWithSecrets {
		host, _, _ := strings.Cut(s, "/o")
		for _, err := range []error{
			fmt.Errorf("Get %q: http: server gave HTTP response to HTTPS client", "https://"+s),
			fmt.Errorf("Get %q: connection refused", "https://"+s),
		} {
			if e := Explain(err, host); strings.Contains(e.Error(), secret) {
				t.Errorf("Explain(%q, %q) = %q shows the secret", err, host, e)
			}
		}
	}
}

func TestRedact(t *testing.T) {
	const dgst = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	tests := []struct{ in, want string }{
		{"user:" + secret + "@ghcr.io/org/app", "xxxxx@ghcr.io/org/app"},
		{"user:" + secret + "@127.0.0.1:5000/app:v1", "xxxxx@127.0.0.1:5000/app:v1"},
		{secret + "@ghcr.io/org/app", "xxxxx@ghcr.io/org/app"},
		{"https://user:" + secret + "@ghcr.io/v2/", "https://xxxxx@ghcr.io/v2/"},
		{"https://" + secret + "@ghcr.io", "https://xxxxx@ghcr.io"},
		{`Get "https://u:` + secret + `@host/v2/": EOF`, `Get "https://xxxxx@host/v2/": EOF`},
		{"ghcr.io/org/app?access_token=" + secret, "ghcr.io/org/app?access_token=xxxxx"},
		{"https://h/x?a=1&password=" + secret + "&b=2", "https://h/x?a=1&password=xxxxx&b=2"},
		{"https://h/x?X-Amz-Signature=" + secret + "#frag", "https://h/x?X-Amz-Signature=xxxxx#frag"},
		{"a:b@h/r and c:" + secret + "@h/r", "xxxxx@h/r and xxxxx@h/r"},
		// No credentials: unchanged.
		{"ghcr.io/org/app", "ghcr.io/org/app"},
		{"127.0.0.1:5000/org/app:v1", "127.0.0.1:5000/org/app:v1"},
		{"alpine@" + dgst, "alpine@" + dgst},
		{"python:3.12@" + dgst, "python:3.12@" + dgst},
		{"localhost:5000/app:v1@" + dgst, "localhost:5000/app:v1@" + dgst},
		{"ghcr.io/org/app:v1@" + dgst, "ghcr.io/org/app:v1@" + dgst},
		{"refused the login for user alice@example.com", "refused the login for user alice@example.com"},
		{"https://h/x?scope=repository:org/app:pull&service=h", "https://h/x?scope=repository:org/app:pull&service=h"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := Redact(Redact(tt.in)); got != tt.want {
			t.Errorf("Redact(Redact(%q)) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Parse errors keep the parser's error, and say that credentials belong
// to kiln login.
func TestParseErrorHint(t *testing.T) {
	_, err := Options{}.ParseReference("user:" + secret + "@ghcr.io/org/app")
	if err == nil || !strings.Contains(err.Error(), "kiln login") || !strings.Contains(err.Error(), "xxxxx@ghcr.io/org/app") {
		t.Errorf("ParseReference with credentials = %v, want the reference without them and a pointer to kiln login", err)
	}
	_, err = Options{}.ParseReference("Not A Reference")
	if err == nil || strings.Contains(err.Error(), "kiln login") || !strings.Contains(err.Error(), `"Not A Reference"`) {
		t.Errorf("ParseReference of a plain bad reference = %v", err)
	}
}
