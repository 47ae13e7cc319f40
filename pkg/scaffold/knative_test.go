package scaffold

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/pkg/config"
)

// TestKnativeTemplates: each template writes func create's layout with a
// func.yaml that kiln reads back as the function it is.
func TestKnativeTemplates(t *testing.T) {
	for _, tt := range []struct {
		runtime, template string
		files             []string
	}{
		{"go", "http", []string{"func.yaml", ".funcignore", ".gitignore", "go.mod", "function.go", "function_test.go"}},
		{"go", "cloudevents", []string{"func.yaml", "go.mod", "go.sum", "function.go", "function_test.go"}},
		{"python", "http", []string{"func.yaml", "pyproject.toml", "function/__init__.py", "function/func.py", "tests/test_func.py"}},
		{"python", "cloudevents", []string{"func.yaml", "pyproject.toml", "function/__init__.py", "function/func.py", "tests/test_func.py"}},
	} {
		t.Run(tt.runtime+" "+tt.template, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "My_Fn")
			res, err := Init(context.Background(), Options{Dir: dir, Runtime: tt.runtime, Template: tt.template})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range tt.files {
				if !slices.Contains(res.Files, f) {
					t.Errorf("files %v lack %s", res.Files, f)
				}
				if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f))); err != nil {
					t.Error(err)
				}
			}
			fn, err := config.LoadFunc(dir)
			if err != nil || fn == nil {
				t.Fatalf("func.yaml: %v, %v", fn, err)
			}
			wantInvoke := map[string]string{"http": "", "cloudevents": "cloudevent"}[tt.template]
			if fn.Name != "my-fn" || fn.Runtime != tt.runtime || fn.Invoke != wantInvoke || res.Name != "my-fn" {
				t.Errorf("func.yaml %+v, result %+v", fn, res)
			}
			gitignore, _ := os.ReadFile(filepath.Join(dir, ".gitignore"))
			if !strings.Contains(string(gitignore), "/.func") || !strings.Contains(string(gitignore), "/.kiln/") {
				t.Errorf(".gitignore: %q", gitignore)
			}
		})
	}
	if _, err := Init(context.Background(), Options{Dir: t.TempDir(), Template: "kafka"}); err == nil || !strings.Contains(err.Error(), "use http or cloudevents") {
		t.Errorf("unknown template: %v", err)
	}
	if _, err := Init(context.Background(), Options{Dir: t.TempDir(), Template: "http", Kind: config.KindApp}); err == nil || !strings.Contains(err.Error(), "a template writes a function") {
		t.Errorf("template with kind app: %v", err)
	}
}
