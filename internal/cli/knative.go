package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/kiln-build/kiln/pkg/scaffold"
)

// printKnativeInit says what kiln init --template wrote and what to do
// next.
func printKnativeInit(stdout io.Writer, opt scaffold.Options, res *scaffold.Result, cd string) error {
	runtime := opt.Runtime
	if runtime == "" {
		runtime = "go"
	}
	fmt.Fprintf(stdout, "Wrote a Knative Functions %s %s function %s in %s: %s\n", runtime, opt.Template, res.Name, opt.Dir, strings.Join(res.Files, ", "))
	test := "go test ./..."
	if runtime == "python" {
		test = "python3 -m unittest discover -s tests"
	}
	fmt.Fprintf(stdout, "Next:\n%s  %s\n  kiln build   # the image %s\n", cd, test, res.Name)
	return nil
}
