package golang

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kiln-build/kiln/pkg/platform"
	"github.com/kiln-build/kiln/pkg/runtime"
)

// Function says what a function package exports, which decides what
// kiln's generated service calls.
type Function struct {
	// Instance is true for a package exporting New() T, false for one
	// exporting a package-level Handle.
	Instance bool
	// The optional methods of T.
	Start, Stop, Ready, Alive bool
	// Context is true for a Handle whose first parameter is a
	// context.Context.
	Context bool
	// CloudEvents is true for a Handle of one of the CloudEvents shapes
	// (CloudEventShapes): it receives events, not HTTP requests.
	CloudEvents bool
	// Event is true for a CloudEvents Handle taking an event.Event;
	// EventResult for one returning *event.Event, ErrorResult for one
	// returning an error.
	Event, EventResult, ErrorResult bool
}

// CloudEventsPackage is the package of event.Event, from the CloudEvents
// Go SDK.
const CloudEventsPackage = "github.com/cloudevents/sdk-go/v2/event"

// Signatures tells what a package must export to be a function. Errors
// about packages that are neither programs nor functions end with it.
const Signatures = `kiln builds a program (package main with a func main()) or a function:
a package other than main that exports either
	func Handle(http.ResponseWriter, *http.Request)
	func Handle(context.Context, http.ResponseWriter, *http.Request)
	or a CloudEvents Handle (below)
or
	func New() T
where T has the method Handle of one of those shapes, and, if it needs them,
these, which kiln's service calls
	Start(context.Context, map[string]string) error  before serving
	Stop(context.Context) error                      on shutdown
	Ready(context.Context) (bool, error)             on GET /health/readiness
	Alive(context.Context) (bool, error)             on GET /health/liveness
A CloudEvents Handle (event.Event is github.com/cloudevents/sdk-go/v2/event.Event)
takes (), (context.Context), (event.Event) or (context.Context, event.Event)
and returns nothing or error; one taking an event may also return *event.Event
or (*event.Event, error).`

// NotFunctionError says why a package that is not main is not a function
// either.
type NotFunctionError struct {
	Arg        string // as named on the command line
	ImportPath string
	Name       string   // the package clause
	Problems   []string // "file.go:12: what is wrong"
	// Meant says the package means to be a function but has it wrong: it
	// declares Handle, or its New returns a type with a Handle method. A
	// pattern such as ./... reports it rather than skipping it as a
	// library.
	Meant bool
}

func (e *NotFunctionError) Error() string {
	what := e.Arg
	if what == "" {
		what = e.ImportPath
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s is not a main package or a function: package %s ", what, e.Name)
	if len(e.Problems) == 0 {
		b.WriteString("exports no func Handle or func New")
	} else {
		b.WriteString("does not match:")
		for _, p := range e.Problems {
			b.WriteString("\n\t" + p)
		}
	}
	b.WriteString("\n" + Signatures)
	return b.String()
}

// A method or function signature kiln calls.
type signature struct {
	name    string
	params  []func(types.Type) bool
	results []func(types.Type) bool
	text    string // how it reads in Go
}

func (s signature) matches(sig *types.Signature) bool {
	if sig.Variadic() || sig.TypeParams().Len() > 0 || sig.Params().Len() != len(s.params) || sig.Results().Len() != len(s.results) {
		return false
	}
	for i, ok := range s.params {
		if !ok(sig.Params().At(i).Type()) {
			return false
		}
	}
	for i, ok := range s.results {
		if !ok(sig.Results().At(i).Type()) {
			return false
		}
	}
	return true
}

func named(pkgPath, name string) func(types.Type) bool {
	return func(t types.Type) bool {
		n, ok := types.Unalias(t).(*types.Named)
		return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == pkgPath && n.Obj().Name() == name
	}
}

func pointerTo(pkgPath, name string) func(types.Type) bool {
	return func(t types.Type) bool {
		p, ok := types.Unalias(t).(*types.Pointer)
		return ok && named(pkgPath, name)(p.Elem())
	}
}

func identical(want types.Type) func(types.Type) bool {
	return func(t types.Type) bool { return types.Identical(t, want) }
}

var (
	responseWriter = named("net/http", "ResponseWriter")
	request        = pointerTo("net/http", "Request")
	contextT       = named("context", "Context")
	errorT         = identical(types.Universe.Lookup("error").Type())
	boolT          = identical(types.Typ[types.Bool])
	configT        = identical(types.NewMap(types.Typ[types.String], types.Typ[types.String]))
	eventT         = named(CloudEventsPackage, "Event")
	eventPtrT      = pointerTo(CloudEventsPackage, "Event")

	startSig = signature{"Start", []func(types.Type) bool{contextT, configT}, []func(types.Type) bool{errorT}, "(context.Context, map[string]string) error"}
	stopSig  = signature{"Stop", []func(types.Type) bool{contextT}, []func(types.Type) bool{errorT}, "(context.Context) error"}
	readySig = signature{"Ready", []func(types.Type) bool{contextT}, []func(types.Type) bool{boolT, errorT}, "(context.Context) (bool, error)"}
	aliveSig = signature{"Alive", []func(types.Type) bool{contextT}, []func(types.Type) bool{boolT, errorT}, "(context.Context) (bool, error)"}
)

// handleShape is one signature Handle may have, with what it tells
// about the function.
type handleShape struct {
	sig signature
	fn  Function // the fields the shape decides
}

// shapeResult is what a CloudEvents Handle returns.
type shapeResult struct {
	types      []func(types.Type) bool
	text       string
	event, err bool
}

// handleShapes are every Handle kiln serves: the two HTTP ones, then the
// twelve CloudEvents ones Knative Functions documents.
var handleShapes = func() []handleShape {
	type ty = func(types.Type) bool
	shapes := []handleShape{
		{signature{"Handle", []ty{responseWriter, request}, nil, "(http.ResponseWriter, *http.Request)"}, Function{}},
		{signature{"Handle", []ty{contextT, responseWriter, request}, nil, "(context.Context, http.ResponseWriter, *http.Request)"}, Function{Context: true}},
	}
	for _, withEvent := range []bool{false, true} {
		for _, withCtx := range []bool{false, true} {
			var params []ty
			var names []string
			if withCtx {
				params, names = append(params, contextT), append(names, "context.Context")
			}
			if withEvent {
				params, names = append(params, eventT), append(names, "event.Event")
			}
			results := []shapeResult{{nil, "", false, false}, {[]ty{errorT}, " error", false, true}}
			if withEvent {
				results = append(results,
					shapeResult{[]ty{eventPtrT}, " *event.Event", true, false},
					shapeResult{[]ty{eventPtrT, errorT}, " (*event.Event, error)", true, true})
			}
			for _, r := range results {
				text := "(" + strings.Join(names, ", ") + ")" + r.text
				shapes = append(shapes, handleShape{
					signature{"Handle", params, r.types, text},
					Function{CloudEvents: true, Context: withCtx, Event: withEvent, EventResult: r.event, ErrorResult: r.err},
				})
			}
		}
	}
	return shapes
}()

// CloudEventShapes lists the CloudEvents Handle signatures kiln serves.
func CloudEventShapes() []string {
	var out []string
	for _, s := range handleShapes {
		if s.fn.CloudEvents {
			out = append(out, s.sig.text)
		}
	}
	return out
}

// matchHandle returns the shape sig has, or false.
func matchHandle(sig *types.Signature) (Function, bool) {
	for _, s := range handleShapes {
		if s.sig.matches(sig) {
			return s.fn, true
		}
	}
	return Function{}, false
}

// handleWant is how errors say which Handle kiln wants.
const handleWant = "one of the Handle signatures listed below"

// detectFunctions decides which of the non-main packages lps are
// functions. It returns a Function for each that is, and a
// *NotFunctionError for each that is not. A package that declares no
// top-level Handle or New is ruled out from its syntax alone; the others
// are type-checked from the export data of a go list -export run (which
// compiles them as go build would), so the check sees exactly what the
// compiler sees: aliases, embedded methods, pointer receivers.
func detectFunctions(ctx context.Context, dir string, lps []listedPackage, env []string) (map[string]*Function, map[string]*NotFunctionError, error) {
	funcs := map[string]*Function{}
	nots := map[string]*NotFunctionError{}
	var candidates []string
	byPath := map[string]listedPackage{}
	for _, lp := range lps {
		byPath[lp.ImportPath] = lp
		if declaresHandleOrNew(lp) {
			candidates = append(candidates, lp.ImportPath)
		} else {
			nots[lp.ImportPath] = &NotFunctionError{ImportPath: lp.ImportPath, Name: lp.Name}
		}
	}
	if len(candidates) == 0 {
		return funcs, nots, nil
	}
	exports, err := exportData(ctx, dir, candidates, env)
	if err != nil {
		return nil, nil, err
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		f, ok := exports[path]
		if !ok || f == "" {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(f)
	})
	for _, ip := range candidates {
		pkg, err := imp.Import(ip)
		if err != nil {
			return nil, nil, fmt.Errorf("checking whether %s is a function: %w", ip, err)
		}
		fn, problems, meant := inspect(fset, pkg)
		if fn != nil {
			funcs[ip] = fn
		} else {
			nots[ip] = &NotFunctionError{ImportPath: ip, Name: byPath[ip].Name, Problems: problems, Meant: meant}
		}
	}
	return funcs, nots, nil
}

// declaresHandleOrNew reports whether a file of lp declares anything
// called Handle or New at the top level. A file that does not parse
// counts, so that the compiler gets to report it.
func declaresHandleOrNew(lp listedPackage) bool {
	fset := token.NewFileSet()
	wanted := func(id *ast.Ident) bool { return id.Name == "Handle" || id.Name == "New" }
	for _, name := range lp.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(lp.Dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return true
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil && wanted(d.Name) {
					return true
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch spec := spec.(type) {
					case *ast.ValueSpec:
						if slices.ContainsFunc(spec.Names, wanted) {
							return true
						}
					case *ast.TypeSpec:
						if wanted(spec.Name) {
							return true
						}
					}
				}
			}
		}
	}
	return false
}

// exportData compiles the packages and returns the export data file of
// each and of every package they depend on. It builds for Linux on the
// host's architecture with the flags kiln builds with, so that the later
// go build finds the work in the build cache.
func exportData(ctx context.Context, dir string, importPaths, env []string) (map[string]string, error) {
	args := append([]string{"list", "-e", "-export", "-deps", "-trimpath", "-json=ImportPath,Export,Error,DepsErrors", "--"}, importPaths...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(append(append([]string(nil), env...), "CGO_ENABLED=0"), platform.GoEnv(platform.Host())...)
	runtime.LogCommand(ctx, cmd)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("compiling %s to check whether it is a function: %s", strings.Join(importPaths, ", "), firstNonEmpty(strings.TrimSpace(stderr.String()), err.Error()))
	}
	exports := map[string]string{}
	wanted := map[string]bool{}
	for _, ip := range importPaths {
		wanted[ip] = true
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath, Export string
			Error              *struct{ Err string }
			DepsErrors         []struct{ Err string }
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("reading go list output: %w", err)
		}
		if wanted[p.ImportPath] {
			var msgs []string
			if p.Error != nil {
				msgs = append(msgs, strings.TrimSpace(p.Error.Err))
			}
			for _, e := range p.DepsErrors {
				msgs = append(msgs, strings.TrimSpace(e.Err))
			}
			if len(msgs) > 0 {
				return nil, &CompileError{Package: p.ImportPath, Platform: platform.String(platform.Host()), Output: strings.Join(msgs, "\n")}
			}
		}
		exports[p.ImportPath] = p.Export
	}
	return exports, nil
}

// inspect decides whether pkg is a function. When it is not, it says what
// is wrong with whatever Handle or New it exports, and whether the package
// meant to be one (see NotFunctionError.Meant).
func inspect(fset *token.FileSet, pkg *types.Package) (fn *Function, problems []string, meant bool) {
	in := &inspection{fset: fset, pkg: pkg}
	var static, instance *Function
	if obj := pkg.Scope().Lookup("Handle"); obj != nil {
		in.meant = true
		if fn, ok := obj.(*types.Func); !ok {
			in.problem(obj, "Handle is a %s, want func Handle: %s", kindOf(obj), handleWant)
		} else if shape, ok := matchHandle(fn.Type().(*types.Signature)); !ok {
			in.problem(obj, "Handle is %s, want %s", in.typeString(fn.Type()), handleWant)
		} else {
			static = &shape
		}
	}
	if obj := pkg.Scope().Lookup("New"); obj != nil {
		instance = in.inspectNew(obj)
	}
	switch {
	case static != nil && instance != nil:
		return nil, []string{"it exports both func Handle and func New; keep one of them, so that it is clear which serves requests"}, true
	case static != nil:
		return static, nil, false
	case instance != nil:
		return instance, nil, false
	}
	return nil, in.problems, in.meant
}

type inspection struct {
	fset     *token.FileSet
	pkg      *types.Package
	problems []string
	meant    bool // the package declares Handle, or New makes a type with one
}

// problem records what is wrong with obj, at its position.
func (in *inspection) problem(obj types.Object, format string, args ...any) {
	where := ""
	if p := in.fset.Position(obj.Pos()); p.IsValid() {
		where = fmt.Sprintf("%s:%d: ", filepath.Base(p.Filename), p.Line)
	}
	in.problems = append(in.problems, where+fmt.Sprintf(format, args...))
}

// typeString writes t as the package's own code would.
func (in *inspection) typeString(t types.Type) string {
	return types.TypeString(t, func(p *types.Package) string {
		if p == in.pkg {
			return ""
		}
		return p.Name()
	})
}

// inspectNew checks a New that may make a function instance.
func (in *inspection) inspectNew(obj types.Object) *Function {
	fn, ok := obj.(*types.Func)
	if !ok {
		in.problem(obj, "New is a %s, want func New() T", kindOf(obj))
		return nil
	}
	sig := fn.Type().(*types.Signature)
	if sig.Params().Len() != 0 || sig.Results().Len() != 1 || sig.TypeParams().Len() > 0 {
		in.problem(obj, "New is %s, want func New() T: no parameters, one result", in.typeString(sig))
		return nil
	}
	t := sig.Results().At(0).Type()
	ts := in.typeString(t)
	mset := types.NewMethodSet(t)
	var ptrSet *types.MethodSet
	if _, isPtr := types.Unalias(t).(*types.Pointer); !isPtr && !types.IsInterface(t) {
		ptrSet = types.NewMethodSet(types.NewPointer(t))
	}
	if mset.Lookup(nil, "Handle") != nil || (ptrSet != nil && ptrSet.Lookup(nil, "Handle") != nil) {
		in.meant = true
	}
	before := len(in.problems)
	has := func(s signature, required bool) bool {
		sel := mset.Lookup(nil, s.name)
		if sel == nil {
			if ptrSet != nil && ptrSet.Lookup(nil, s.name) != nil {
				in.problem(ptrSet.Lookup(nil, s.name).Obj(), "New returns %s, but its method %s has a pointer receiver: return *%s from New", ts, s.name, ts)
			} else if required {
				in.problem(obj, "New returns %s, which has no method %s%s", ts, s.name, s.text)
			}
			return false
		}
		if msig, ok := sel.Type().(*types.Signature); !ok || !s.matches(msig) {
			in.problem(sel.Obj(), "New returns %s, whose method %s is %s, want %s%s", ts, s.name, in.typeString(sel.Type()), s.name, s.text)
		}
		return true
	}
	f := &Function{Instance: true}
	if sel := mset.Lookup(nil, "Handle"); sel != nil {
		msig, ok := sel.Type().(*types.Signature)
		shape, matched := Function{}, false
		if ok {
			shape, matched = matchHandle(msig)
		}
		if !matched {
			in.problem(sel.Obj(), "New returns %s, whose method Handle is %s, want %s", ts, in.typeString(sel.Type()), handleWant)
		}
		shape.Instance = true
		f = &shape
	} else if ptrSet != nil && ptrSet.Lookup(nil, "Handle") != nil {
		in.problem(ptrSet.Lookup(nil, "Handle").Obj(), "New returns %s, but its method Handle has a pointer receiver: return *%s from New", ts, ts)
	} else {
		in.problem(obj, "New returns %s, which has no method Handle: want %s", ts, handleWant)
	}
	f.Start = has(startSig, false)
	f.Stop = has(stopSig, false)
	f.Ready = has(readySig, false)
	f.Alive = has(aliveSig, false)
	if len(in.problems) > before {
		return nil
	}
	return f
}

func kindOf(obj types.Object) string {
	switch obj.(type) {
	case *types.Var:
		return "variable"
	case *types.Const:
		return "constant"
	case *types.TypeName:
		return "type"
	}
	return "declaration"
}
