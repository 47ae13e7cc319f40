package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/vbauerster/mpb/v8"

	"github.com/kiln-build/kiln/pkg/progress"
)

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// TestBarsShowTheTrueEnd: on a terminal, each step ends as it ended:
// done, failed or cancelled, never a "done" it did not reach; a step that
// waits says so until it runs; downloads count bytes.
func TestBarsShowTheTrueEnd(t *testing.T) {
	var buf bytes.Buffer
	p := mpb.New(mpb.WithOutput(&buf), mpb.WithWidth(160), mpb.WithAutoRefresh()) // the line width, off a terminal
	r := &barReporter{p: p}
	ok := r.Start("building hello for linux/amd64", 0)
	bad := r.Start("building hello for linux/arm64", 0)
	cut := r.Start("building hello for linux/arm/v7", 0)
	waiting := r.Start("building hello for linux/s390x", 0)
	progress.SetPhase(waiting, "waiting")
	dl := r.Start("fetching base layers for linux/amd64", 4096)
	dl.Add(2048)
	ok.Done(nil)
	bad.Done(errors.New("compile error"))
	cut.Done(fmt.Errorf("building: %w", context.Canceled))
	// The waiting step's state as drawn before it ends.
	if got := waiting.(*barStep).phase.Load(); got != "waiting" {
		t.Errorf("waiting step shows %q", got)
	}
	waiting.Done(context.Canceled)
	dl.Add(2048)
	dl.Done(nil)
	p.Wait()
	final := map[string]string{}
	for _, line := range strings.Split(ansi.ReplaceAllString(buf.String(), "\n"), "\n") {
		for _, name := range []string{"linux/amd64", "linux/arm64", "linux/arm/v7", "linux/s390x"} {
			if strings.Contains(line, "building hello for "+name) {
				final[name] = line
			}
		}
		if strings.Contains(line, "fetching base layers") {
			final["download"] = line
		}
	}
	for name, want := range map[string]string{"linux/amd64": "done", "linux/arm64": "failed", "linux/arm/v7": "cancelled", "linux/s390x": "cancelled", "download": "done"} {
		if end := strings.Fields(final[name]); len(end) == 0 || end[len(end)-1] != want {
			t.Errorf("%s ends as %q, want %q", name, final[name], want)
		}
	}
	if !strings.Contains(final["download"], "4.0 KiB / 4.0 KiB") {
		t.Errorf("the download shows %q, want its bytes", final["download"])
	}
}
