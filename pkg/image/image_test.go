package image

import (
	"slices"
	"testing"
)

func TestAppendPath(t *testing.T) {
	cases := []struct {
		env  []string
		want []string
	}{
		{nil, []string{"PATH=" + DefaultPath + ":/kiln/bin"}},
		{[]string{"A=1", "PATH=/opt/bin"}, []string{"A=1", "PATH=/opt/bin:/kiln/bin"}},
		{[]string{"PATH=/kiln/bin:/bin"}, []string{"PATH=/kiln/bin:/bin"}},
	}
	for _, c := range cases {
		if got := AppendPath(c.env, "/kiln/bin"); !slices.Equal(got, c.want) {
			t.Errorf("AppendPath(%q) = %q, want %q", c.env, got, c.want)
		}
	}
	env := []string{"PATH=/x"}
	AppendPath(env, "/y")
	if env[0] != "PATH=/x" {
		t.Error("AppendPath changed its argument")
	}
}

func TestSetEnv(t *testing.T) {
	got := SetEnv([]string{"A=1", "B=2"}, "A=3")
	if !slices.Equal(got, []string{"A=3", "B=2"}) {
		t.Errorf("replace: %q", got)
	}
	if got := SetEnv([]string{"A=1"}, "AB=2"); !slices.Equal(got, []string{"A=1", "AB=2"}) {
		t.Errorf("a key that is a prefix of another must not match: %q", got)
	}
}
