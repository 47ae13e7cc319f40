package golang

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"go/format"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/template"

	"github.com/kiln-build/kiln/pkg/config"
)

// The main package kiln generates around a function. It uses only the
// standard library, and for a CloudEvents function taking an event the
// SDK's event package, which the function imports already: so building a
// function needs nothing beyond what the function's own module has.
//
//go:embed wrapper.go.tmpl
var wrapperText string

var wrapperTemplate = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("wrapper").Parse(wrapperText))
})

// WrapperSource returns the main package kiln generates to serve the
// function pkg.
func WrapperSource(pkg Package) ([]byte, error) {
	if pkg.Kind != config.KindFunction || pkg.Function == nil {
		return nil, fmt.Errorf("%s is not a function", pkg.ImportPath)
	}
	var b bytes.Buffer
	err := wrapperTemplate().Execute(&b, struct {
		ImportPath string
		*Function
		Call string
	}{pkg.ImportPath, pkg.Function, handleCall(pkg.Function)})
	if err != nil {
		return nil, err
	}
	// The template's conditionals leave uneven spacing; gofmt evens it.
	return format.Source(b.Bytes())
}

// handleCall is the body of the adapter the generated service calls for
// every request: it calls the function's Handle with the arguments its
// shape takes and turns its results into what the service expects.
func handleCall(f *Function) string {
	recv := "function"
	if f.Instance {
		recv = "f"
	}
	if !f.CloudEvents {
		if f.Context {
			return recv + ".Handle(r.Context(), w, r)"
		}
		return recv + ".Handle(w, r)"
	}
	var args []string
	if f.Context {
		args = append(args, "ctx")
	}
	if f.Event {
		args = append(args, "in")
	}
	call := recv + ".Handle(" + strings.Join(args, ", ") + ")"
	nilEvent := ""
	if f.Event {
		nilEvent = "nil, "
	}
	switch {
	case f.EventResult && f.ErrorResult:
		return "return " + call
	case f.EventResult:
		return "return " + call + ", nil"
	case f.ErrorResult:
		return "return " + nilEvent + call
	}
	return call + "\nreturn " + nilEvent + "nil"
}

// wrapper is a function's generated main package. It is compiled as if it
// were a package of the function's module, in a directory that exists only
// in a go build -overlay file: so the module's go.mod and go.sum resolve
// the function's dependencies as for any of its packages, and nothing is
// written to the module's tree.
type wrapper struct {
	importPath string // of the generated main package
	file       string // its main.go, in the module (not on disk)
	source     []byte
	real       string // where main.go really is, in the work directory
	overlay    string // the -overlay file mapping file to real
}

// wrapperPrefix starts the name of the generated package's directory.
const wrapperPrefix = "kilnfunc_"

func newWrapper(pkg Package, workDir string) (*wrapper, error) {
	src, err := WrapperSource(pkg)
	if err != nil {
		return nil, err
	}
	// Named after its content, so the name (which ends up in the binary)
	// is the same on every machine.
	sum := sha256.Sum256(src)
	name := wrapperPrefix + hex.EncodeToString(sum[:5])
	dir := filepath.Join(pkg.ModuleRoot, name)
	if _, err := os.Lstat(dir); err == nil {
		return nil, fmt.Errorf("%s exists, but kiln needs that name for the service it generates around the function %s: rename it", dir, pkg.ImportPath)
	}
	work, err := os.MkdirTemp(workDir, "wrapper-")
	if err != nil {
		return nil, err
	}
	w := &wrapper{
		importPath: pkg.ModulePath + "/" + name,
		file:       filepath.Join(dir, "main.go"),
		source:     src,
		real:       filepath.Join(work, "main.go"),
		overlay:    filepath.Join(work, "overlay.json"),
	}
	overlay, err := json.Marshal(map[string]map[string]string{"Replace": {w.file: w.real}})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(w.real, src, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(w.overlay, overlay, 0o644); err != nil {
		return nil, err
	}
	return w, nil
}
