package environ

import "testing"

func TestLookup(t *testing.T) {
	env := []string{"A=1", "B=", "A=2", "AB=3", "C"}
	for _, c := range []struct {
		key, want string
		found     bool
	}{{"A", "2", true}, {"B", "", true}, {"AB", "3", true}, {"C", "", false}, {"D", "", false}} {
		if got, found := Lookup(env, c.key); got != c.want || found != c.found {
			t.Errorf("Lookup(%q) = %q, %v; want %q, %v", c.key, got, found, c.want, c.found)
		}
	}
}
