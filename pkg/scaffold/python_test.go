package scaffold

import (
	"github.com/kiln-build/kiln/pkg/config"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWritePython(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "Hello_Fn")
	files, err := WritePython(dir, config.KindFunction)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(files, " ") != "function.py pyproject.toml" {
		t.Errorf("wrote %v", files)
	}
	pp, _ := os.ReadFile(filepath.Join(dir, "pyproject.toml"))
	if !strings.Contains(string(pp), `name = "hello-fn"`) {
		t.Errorf("pyproject.toml:\n%s", pp)
	}
	if _, err := WritePython(dir, config.KindFunction); err == nil || !strings.Contains(err.Error(), "never overwrites") {
		t.Errorf("writing twice: %v", err)
	}
	app := filepath.Join(t.TempDir(), "app")
	if files, err := WritePython(app, ""); err != nil || strings.Join(files, " ") != "main.py pyproject.toml" {
		t.Errorf("default kind: %v %v", files, err)
	}
	if _, err := WritePython(t.TempDir(), "job"); err == nil {
		t.Error("kind job accepted")
	}
}
