package lazy

import "testing"

// TestRegexp: the expression is compiled once and then shared; a bad
// one panics when first used, not when declared.
func TestRegexp(t *testing.T) {
	re := Regexp(`^a+$`)
	if first := re(); first != re() || !first.MatchString("aaa") || first.MatchString("ab") {
		t.Fatal("the expression is not compiled once, or does not match as written")
	}
	bad := Regexp(`(`)
	defer func() {
		if recover() == nil {
			t.Fatal("a bad expression did not panic at its first use")
		}
	}()
	bad()
}
