package golang

import (
	"github.com/kiln-build/kiln/pkg/config"

	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const goMod = "module example.com/fn\n\ngo 1.22\n"

// resolveFunc writes src as the package of a module and resolves it.
func resolveFunc(t *testing.T, src string) (Package, error) {
	t.Helper()
	dir := module(t, map[string]string{"go.mod": goMod, "fn.go": src})
	pkgs, err := Resolve(context.Background(), dir, []string{"."}, os.Environ())
	if err != nil {
		return Package{}, err
	}
	if len(pkgs) != 1 {
		t.Fatalf("resolved %d packages, want 1", len(pkgs))
	}
	return pkgs[0], nil
}

func TestDetectAccepted(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want Function
	}{
		{"package-level Handle", `package fn
import "net/http"
func Handle(w http.ResponseWriter, r *http.Request) {}
`, Function{}},
		{"renamed import and aliases", `package fn
import (
	web "net/http"
)
type W = web.ResponseWriter
func Handle(w W, r *web.Request) {}
`, Function{}},
		{"package-level Handle with a context", `package fn
import ("context"; "net/http")
func Handle(ctx context.Context, w http.ResponseWriter, r *http.Request) {}
`, Function{Context: true}},
		{"New whose Handle takes a context", `package fn
import ("context"; "net/http")
type F struct{}
func New() *F { return &F{} }
func (*F) Handle(context.Context, http.ResponseWriter, *http.Request) {}
func (*F) Start(context.Context, map[string]string) error { return nil }
`, Function{Instance: true, Context: true, Start: true}},
		{"New with every method", `package fn
import ("context"; "net/http")
type F struct{}
func New() *F { return &F{} }
func (*F) Handle(http.ResponseWriter, *http.Request) {}
func (*F) Start(context.Context, map[string]string) error { return nil }
func (*F) Stop(context.Context) error { return nil }
func (*F) Ready(context.Context) (bool, error) { return true, nil }
func (*F) Alive(context.Context) (bool, error) { return true, nil }
`, Function{Instance: true, Start: true, Stop: true, Ready: true, Alive: true}},
		{"New returning a value with value methods", `package fn
import ("context"; "net/http")
type F struct{}
func New() F { return F{} }
func (F) Handle(http.ResponseWriter, *http.Request) {}
func (F) Ready(context.Context) (bool, error) { return true, nil }
`, Function{Instance: true, Ready: true}},
		{"New returning an interface", `package fn
import ("context"; "net/http")
type Service interface {
	Handle(http.ResponseWriter, *http.Request)
	Stop(context.Context) error
}
type impl struct{}
func (impl) Handle(http.ResponseWriter, *http.Request) {}
func (impl) Stop(context.Context) error { return nil }
func New() Service { return impl{} }
`, Function{Instance: true, Stop: true}},
		{"methods promoted from an embedded field", `package fn
import ("context"; "net/http")
type Base struct{}
func (*Base) Handle(http.ResponseWriter, *http.Request) {}
func (*Base) Alive(context.Context) (bool, error) { return true, nil }
type F struct{ *Base }
func New() F { return F{&Base{}} }
`, Function{Instance: true, Alive: true}},
		{"New, and a Handle of another shape", `package fn
import "net/http"
type F struct{}
func New() *F { return &F{} }
func (*F) Handle(http.ResponseWriter, *http.Request) {}
var Handle = "not the handler"
`, Function{Instance: true}},
		{"Handle, and an unrelated constructor New", `package fn
import "net/http"
type Client struct{}
func New() *Client { return &Client{} }
func Handle(w http.ResponseWriter, r *http.Request) {}
`, Function{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkg, err := resolveFunc(t, tt.src)
			if err != nil {
				t.Fatal(err)
			}
			if pkg.Kind != config.KindFunction || pkg.Function == nil || *pkg.Function != tt.want {
				t.Fatalf("resolved %+v (function %+v), want a function %+v", pkg, pkg.Function, tt.want)
			}
			if pkg.ModulePath != "example.com/fn" || pkg.Name() != "fn" {
				t.Errorf("module path %q, name %q", pkg.ModulePath, pkg.Name())
			}
		})
	}
}

func TestDetectRejected(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // in the message, besides the signatures
	}{
		{"a library", "package fn\n\nfunc Helper() {}\n", []string{"package fn exports no func Handle or func New"}},
		{"Handle with the wrong parameters", `package fn
import "net/http"
func Handle(w http.ResponseWriter) {}
`, []string{"fn.go:3: Handle is func(w http.ResponseWriter), want one of the Handle signatures listed below"}},
		{"Handle taking a Request by value", `package fn
import "net/http"
func Handle(w http.ResponseWriter, r http.Request) {}
`, []string{"fn.go:3: Handle is func(w http.ResponseWriter, r http.Request)"}},
		{"Handle with a result", `package fn
import "net/http"
func Handle(w http.ResponseWriter, r *http.Request) error { return nil }
`, []string{"Handle is func(w http.ResponseWriter, r *http.Request) error"}},
		{"context second", `package fn
import ("context"; "net/http")
func Handle(w http.ResponseWriter, ctx context.Context, r *http.Request) {}
`, []string{"fn.go:3: Handle is func(w http.ResponseWriter, ctx context.Context, r *http.Request), want one of the Handle signatures"}},
		{"Handle a variable", `package fn
import "net/http"
var Handle = func(w http.ResponseWriter, r *http.Request) {}
`, []string{"fn.go:3: Handle is a variable, want func Handle"}},
		{"ServeHTTP instead of Handle", `package fn
import "net/http"
type F struct{}
func New() *F { return &F{} }
func (*F) ServeHTTP(http.ResponseWriter, *http.Request) {}
`, []string{"fn.go:4: New returns *F, which has no method Handle: want one of the Handle signatures"}},
		{"New with parameters", `package fn
import "net/http"
type F struct{}
func New(name string) *F { return &F{} }
func (*F) Handle(http.ResponseWriter, *http.Request) {}
`, []string{"fn.go:4: New is func(name string) *F, want func New() T"}},
		{"New returning two values", `package fn
import "net/http"
type F struct{}
func New() (*F, error) { return &F{}, nil }
func (*F) Handle(http.ResponseWriter, *http.Request) {}
`, []string{"New is func() (*F, error), want func New() T"}},
		{"pointer receiver, value from New", `package fn
import "net/http"
type F struct{}
func New() F { return F{} }
func (*F) Handle(http.ResponseWriter, *http.Request) {}
`, []string{"fn.go:5: New returns F, but its method Handle has a pointer receiver: return *F from New"}},
		{"Start with the wrong signature", `package fn
import ("context"; "net/http")
type F struct{}
func New() *F { return &F{} }
func (*F) Handle(http.ResponseWriter, *http.Request) {}
func (*F) Start(ctx context.Context) error { return nil }
`, []string{"fn.go:6: New returns *F, whose method Start is func(ctx context.Context) error, want Start(context.Context, map[string]string) error"}},
		{"Ready without the error", `package fn
import ("context"; "net/http")
type F struct{}
func New() *F { return &F{} }
func (*F) Handle(http.ResponseWriter, *http.Request) {}
func (*F) Ready(context.Context) bool { return true }
`, []string{"whose method Ready is func(context.Context) bool, want Ready(context.Context) (bool, error)"}},
		{"Stop on a named map type", `package fn
import ("context"; "net/http")
type Config map[string]string
type F struct{}
func New() *F { return &F{} }
func (*F) Handle(http.ResponseWriter, *http.Request) {}
func (*F) Start(context.Context, Config) error { return nil }
`, []string{"whose method Start is func(context.Context, Config) error"}},
		{"both shapes", `package fn
import "net/http"
type F struct{}
func New() *F { return &F{} }
func (*F) Handle(http.ResponseWriter, *http.Request) {}
func Handle(w http.ResponseWriter, r *http.Request) {}
`, []string{"exports both func Handle and func New; keep one"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkg, err := resolveFunc(t, tt.src)
			if err == nil {
				t.Fatalf("resolved %+v, want an error", pkg)
			}
			var nf *NotFunctionError
			if !errors.As(err, &nf) {
				t.Fatalf("error %T %v, want a *NotFunctionError", err, err)
			}
			msg := err.Error()
			want := append([]string{". is not a main package or a function", Signatures}, tt.want...)
			for _, w := range want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
		})
	}
}

func TestSignaturesListEveryMethod(t *testing.T) {
	for _, s := range []string{
		"func Handle(http.ResponseWriter, *http.Request)",
		"func New() T",
		"Start(context.Context, map[string]string) error",
		"Stop(context.Context) error",
		"Ready(context.Context) (bool, error)",
		"Alive(context.Context) (bool, error)",
	} {
		if !strings.Contains(Signatures, s) {
			t.Errorf("Signatures lacks %q", s)
		}
	}
}

func TestDetectCompileError(t *testing.T) {
	_, err := resolveFunc(t, `package fn
import "net/http"
func Handle(w http.ResponseWriter, r *http.Request) { undefinedThing() }
`)
	var ce *CompileError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "undefined: undefinedThing") {
		t.Fatalf("error %v, want the compiler's message", err)
	}
}

// TestResolvePatternFunctions: a pattern keeps main packages and
// functions, and leaves out libraries, including those whose New is an
// ordinary constructor.
func TestResolvePatternFunctions(t *testing.T) {
	dir := module(t, map[string]string{
		"go.mod":           goMod,
		"cmd/app/main.go":  "package main\n\nfunc main() {}\n",
		"fn/fn.go":         "package fn\n\nimport \"net/http\"\n\nfunc Handle(w http.ResponseWriter, r *http.Request) {}\n",
		"client/client.go": "package client\n\ntype Client struct{}\n\nfunc New() *Client { return nil }\n",
		"util/util.go":     "package util\n",
	})
	pkgs, err := Resolve(context.Background(), dir, []string{"./..."}, os.Environ())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pkgs {
		got = append(got, p.ImportPath+":"+string(p.Kind))
	}
	if want := "example.com/fn/cmd/app:app example.com/fn/fn:function"; strings.Join(got, " ") != want {
		t.Errorf("./... resolved to %v, want %s", got, want)
	}
	if _, err := Resolve(context.Background(), dir, []string{"./client"}, os.Environ()); err == nil ||
		!strings.Contains(err.Error(), "New returns *Client, which has no method Handle") {
		t.Errorf("a constructor named directly: %v", err)
	}
	if _, err := Resolve(context.Background(), dir, []string{"./util/..."}, os.Environ()); err == nil ||
		!strings.Contains(err.Error(), "matches no main package or function") {
		t.Errorf("a pattern of libraries: %v", err)
	}
}

// TestPatternReportsBrokenFunction: ./... skips libraries, but a package
// that means to be a function (it declares Handle, or its New makes a type
// with a Handle method) and does not match is an error there too.
func TestPatternReportsBrokenFunction(t *testing.T) {
	dir := module(t, map[string]string{
		"go.mod":        goMod,
		"main.go":       "package main\n\nfunc main() {}\n",
		"lib/lib.go":    "package lib\n\ntype Store struct{}\n\nfunc New(dsn string) *Store { return &Store{} }\n",
		"client/c.go":   "package client\n\ntype C struct{}\n\nfunc New() *C { return &C{} }\n",
		"badfn/f.go":    "package badfn\n\nimport \"net/http\"\n\nfunc Handle(w http.ResponseWriter) {}\n",
		"badnew/f.go":   "package badnew\n\nimport \"net/http\"\n\ntype F struct{}\n\nfunc New() *F { return &F{} }\n\nfunc (*F) Handle(w http.ResponseWriter) {}\n",
		"goodfn/f.go":   "package goodfn\n\nimport \"net/http\"\n\nfunc Handle(w http.ResponseWriter, r *http.Request) {}\n",
		"other/main.go": "package main\n\nfunc main() {}\n",
	})
	_, err := Resolve(context.Background(), dir, []string{"./..."}, os.Environ())
	var nf *NotFunctionError
	if !errors.As(err, &nf) || nf.ImportPath != "example.com/fn/badfn" || !strings.Contains(err.Error(), "f.go:5: Handle is func(w http.ResponseWriter)") {
		t.Fatalf("./... with a malformed function: %v", err)
	}
	os.RemoveAll(filepath.Join(dir, "badfn"))
	_, err = Resolve(context.Background(), dir, []string{"./..."}, os.Environ())
	if !errors.As(err, &nf) || nf.ImportPath != "example.com/fn/badnew" {
		t.Fatalf("./... with a New whose type's Handle is malformed: %v", err)
	}
	os.RemoveAll(filepath.Join(dir, "badnew"))
	pkgs, err := Resolve(context.Background(), dir, []string{"./..."}, os.Environ())
	if err != nil {
		t.Fatalf("libraries with a New of their own must be skipped: %v", err)
	}
	var got []string
	for _, p := range pkgs {
		got = append(got, p.ImportPath)
	}
	if strings.Join(got, " ") != "example.com/fn example.com/fn/goodfn example.com/fn/other" {
		t.Errorf("./... resolved to %v", got)
	}
}
