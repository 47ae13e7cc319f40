package plan

import (
	"slices"

	"github.com/kiln-build/kiln/pkg/config"
	"github.com/kiln-build/kiln/pkg/progress"
	"github.com/kiln-build/kiln/pkg/runtime"
)

// reportFunc says what of a func.yaml does not go into the image.
func reportFunc(f *config.Func, rt runtime.Runtime, rep progress.Reporter) {
	if f == nil {
		return
	}
	for _, n := range f.NotBaked {
		rep.Logf("%s: not baked into the image: %s", f.Path, n)
	}
	if len(f.BuildEnv) > 0 && !slices.Contains(rt.Keys(), "buildEnv") {
		rep.Logf("%s: build.buildEnvs are not used: the %s runtime takes no build environment", f.Path, rt.Name())
	}
}
