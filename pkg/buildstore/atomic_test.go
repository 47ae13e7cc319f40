package buildstore

import (
	"fmt"
	"github.com/kiln-build/kiln/internal/testutil"
	"slices"
	"sync"
	"testing"
)

// Concurrent SetLast calls each replace "last" whole: none fails on
// another's temporary link, and no temporary link is left.
func TestSetLastConcurrent(t *testing.T) {
	b := Builds{Dir: t.TempDir()}
	if err := b.Init(); err != nil {
		t.Fatal(err)
	}
	const callers = 8
	var wg sync.WaitGroup
	errs := make([]error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				if err := b.SetLast(fmt.Sprintf("fp%d", i)); err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("SetLast(fp%d): %v", i, err)
		}
	}
	var valid []string
	for i := range callers {
		valid = append(valid, fmt.Sprintf("fp%d", i))
	}
	if got := b.Last(); !slices.Contains(valid, got) {
		t.Errorf("Last() = %q, want one of %q", got, valid)
	}
	if got := testutil.Ls(t, b.Dir); !slices.Equal(got, []string{".gitignore", buildsDir, lastLink}) {
		t.Errorf(".kiln holds %q after concurrent SetLast calls", got)
	}
}
