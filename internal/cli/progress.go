package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/kiln-build/kiln/pkg/progress"
)

// newReporter shows progress as bars when stderr is a terminal and as
// plain lines otherwise (CI logs, files). quiet shows nothing.
func newReporter(stderr io.Writer, quiet bool) (progress.Reporter, func()) {
	if quiet {
		return progress.Discard, func() {}
	}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) && os.Getenv("CI") == "" {
		p := mpb.New(mpb.WithOutput(stderr), mpb.WithWidth(32))
		return &barReporter{p: p}, p.Wait
	}
	return &lineReporter{w: stderr}, func() {}
}

type barReporter struct{ p *mpb.Progress }

// Start adds a bar (with a size) or a spinner that ends with its true
// end: "done", "failed" or "cancelled", never a "done" it did not reach.
func (r *barReporter) Start(name string, total int64) progress.Step {
	s := &barStep{}
	s.phase.Store("")
	status := decor.Any(func(decor.Statistics) string { return s.phase.Load().(string) }, decor.WCSyncSpace)
	elapsed := decor.Elapsed(decor.ET_STYLE_GO, decor.WCSyncSpace)
	if total > 0 {
		s.b = r.p.AddBar(total,
			mpb.PrependDecorators(decor.Name(name, decor.WCSyncSpaceR)),
			mpb.AppendDecorators(decor.CountersKibiByte("% .1f / % .1f", decor.WCSyncSpace), elapsed, status))
		return s
	}
	s.b = r.p.AddSpinner(0,
		mpb.BarFillerOnComplete(""),
		mpb.PrependDecorators(decor.Name(name, decor.WCSyncSpaceR)),
		mpb.AppendDecorators(elapsed, status))
	return s
}

func (r *barReporter) Logf(format string, args ...any) {
	fmt.Fprintf(r.p, "kiln: "+format+"\n", args...)
}

type barStep struct {
	b     *mpb.Bar
	phase atomic.Value // string
}

func (s *barStep) Add(n int64) { s.b.IncrInt64(n) }

// SetPhase shows "waiting" beside a step that has not begun.
func (s *barStep) SetPhase(phase string) {
	if phase == "running" {
		phase = ""
	}
	s.phase.Store(phase)
}

func (s *barStep) Done(err error) {
	s.phase.Store(endOf(err))
	s.b.SetTotal(-1, true)
}

// endOf is how a step ended.
func endOf(err error) string {
	switch {
	case err == nil:
		return "done"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	return "failed"
}

// lineReporter writes one line per finished step.
type lineReporter struct {
	mu sync.Mutex
	w  io.Writer
}

func (r *lineReporter) Start(name string, _ int64) progress.Step {
	return &lineStep{r: r, name: name, start: time.Now()}
}

func (r *lineReporter) Logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.w, "kiln: "+format+"\n", args...)
}

type lineStep struct {
	r     *lineReporter
	name  string
	start time.Time
}

func (s *lineStep) Add(int64) {}

func (s *lineStep) Done(err error) {
	switch end := endOf(err); end {
	case "done":
		s.r.Logf("%s (%s)", s.name, time.Since(s.start).Round(time.Millisecond))
	default:
		s.r.Logf("%s: %s after %s", s.name, end, time.Since(s.start).Round(time.Millisecond))
	}
}
