package golang

import (
	goruntime "runtime"
	"strconv"
	"sync"

	"github.com/kiln-build/kiln/internal/environ"
	"github.com/kiln-build/kiln/internal/hostmem"
)

// The go command, and the compilers and linker it runs, are short-lived
// programs that allocate much and free little before they end: most of
// their garbage collection is work thrown away at exit. So kiln runs them
// with the collector off until a process's heap reaches a share of the
// memory kiln may use (GOGC=off and GOMEMLIMIT). They write the same
// bytes either way, and neither variable is in the go command's cache
// keys. A user who sets either variable keeps their own settings.

// gcShare is the share of the memory the go command's processes may take
// before collecting: a quarter, split among as many as it runs at once.
const gcShare = 4

// minGCLimit is the least GOMEMLIMIT worth setting: below it (a small
// container), Go's defaults are kept.
const minGCLimit = 256 << 20

var memoryLimit = sync.OnceValue(hostmem.Limit)

// GCEnv returns the variables kiln adds to env for the go commands it
// runs on this machine: GOGC=off and a GOMEMLIMIT, or none when env sets
// GOGC or GOMEMLIMIT or the machine has too little memory to spare.
func GCEnv(env []string) []string {
	return gcEnv(env, memoryLimit(), goruntime.GOMAXPROCS(0))
}

// gcEnv returns the variables added to env for a go command that runs up
// to procs processes at once, on a machine where kiln may use memory
// bytes (0: unknown); none when env sets GOGC or GOMEMLIMIT.
func gcEnv(env []string, memory uint64, procs int) []string {
	for _, k := range []string{"GOGC", "GOMEMLIMIT"} {
		if v, _ := environ.Lookup(env, k); v != "" {
			return nil
		}
	}
	limit := memory / gcShare / uint64(max(1, procs))
	if limit < minGCLimit {
		return nil
	}
	return []string{"GOGC=off", "GOMEMLIMIT=" + strconv.FormatUint(limit>>20, 10) + "MiB"}
}
