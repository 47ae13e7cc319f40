// Package lazy makes kiln's regular expressions on first use.
package lazy

import (
	"regexp"
	"sync"
)

// Regexp returns a function that compiles expr the first time it is
// called and returns that expression ever after. Compiled when their
// packages were initialised, kiln's expressions cost every command about a
// millisecond at start, most of them for nothing; an expression that does
// not compile panics at its first use instead.
func Regexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}
