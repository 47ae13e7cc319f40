// Package progress is how the library tells its caller what it is doing,
// without deciding how that is shown: the CLI draws bars on a terminal and
// writes plain lines elsewhere.
package progress

// Reporter is told about the steps of long work.
type Reporter interface {
	// Start begins a step. total is its size in bytes, or 0 if unknown.
	Start(name string, total int64) Step
	// Logf reports something worth saying that is not a step.
	Logf(format string, args ...any)
}

// Step is one piece of work under way.
type Step interface {
	// Add reports n more bytes done.
	Add(n int64)
	// Done ends the step, with the error that ended it, if any.
	Done(err error)
}

// Discard is a Reporter that shows nothing.
var Discard Reporter = discard{}

type discard struct{}

func (discard) Start(string, int64) Step { return discard{} }
func (discard) Logf(string, ...any)      {}
func (discard) Add(int64)                {}
func (discard) Done(error)               {}

// Phaser is a Step that can say it is waiting for its turn before its
// work begins (see SetPhase).
type Phaser interface {
	SetPhase(phase string)
}

// SetPhase tells s which phase it is in ("waiting", "running"), when the
// reporter shows phases; other steps ignore it.
func SetPhase(s Step, phase string) {
	if p, ok := s.(Phaser); ok {
		p.SetPhase(phase)
	}
}
