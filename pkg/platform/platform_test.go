package platform

import (
	"runtime"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestParseOneNormalises(t *testing.T) {
	tests := []struct {
		in   string
		want v1.Platform
	}{
		{"linux/amd64", v1.Platform{OS: "linux", Architecture: "amd64"}},
		{"linux/amd64/v1", v1.Platform{OS: "linux", Architecture: "amd64"}},
		{"linux/amd64/v3", v1.Platform{OS: "linux", Architecture: "amd64", Variant: "v3"}},
		{"linux/x86_64", v1.Platform{OS: "linux", Architecture: "amd64"}},
		{"linux/x86-64/v2", v1.Platform{OS: "linux", Architecture: "amd64", Variant: "v2"}},
		{"linux/arm", v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}},
		{"linux/armhf", v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}},
		{"linux/arm/v6", v1.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}},
		{"linux/arm/v5", v1.Platform{OS: "linux", Architecture: "arm", Variant: "v5"}},
		{"linux/arm64", v1.Platform{OS: "linux", Architecture: "arm64"}},
		{"linux/arm64/v8", v1.Platform{OS: "linux", Architecture: "arm64"}},
		{"linux/arm64/v8.0", v1.Platform{OS: "linux", Architecture: "arm64"}},
		{"linux/arm64/v8.2", v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8.2"}},
		{"linux/arm64/v9.0", v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v9.0"}},
		{"linux/aarch64", v1.Platform{OS: "linux", Architecture: "arm64"}},
		{"linux/aarch64/v8", v1.Platform{OS: "linux", Architecture: "arm64"}},
		{"linux/i386", v1.Platform{OS: "linux", Architecture: "386"}},
		{"linux/386", v1.Platform{OS: "linux", Architecture: "386"}},
		{"linux/riscv64", v1.Platform{OS: "linux", Architecture: "riscv64"}},
		{"linux/s390x", v1.Platform{OS: "linux", Architecture: "s390x"}},
		{"Linux/AMD64", v1.Platform{OS: "linux", Architecture: "amd64"}},
		{"LINUX/ARM/V6", v1.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseOne(tt.in)
			if err != nil {
				t.Fatalf("ParseOne(%q): %v", tt.in, err)
			}
			if !got.Equals(tt.want) {
				t.Errorf("ParseOne(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseOneErrors(t *testing.T) {
	tests := []struct {
		in string
		// every string must appear in the message
		want []string
	}{
		{"darwin/amd64", []string{`"darwin/amd64"`, "Linux", "use linux/amd64"}},
		{"windows/arm64", []string{"use linux/arm64"}},
		{"linux/sparc", []string{`unknown architecture "sparc"`, "known:", "amd64", "arm64", "riscv64"}},
		{"linux/amd64/v5", []string{`unknown variant "v5" for amd64`, "v1, v2, v3, v4"}},
		{"linux/arm/v8", []string{`unknown variant "v8" for arm`, "v5, v6, v7"}},
		{"linux/arm64/v7", []string{`unknown variant "v7" for arm64`, "v8.0"}},
		{"linux/386/v1", []string{"386 takes no variant", "use linux/386"}},
		{"linux/riscv64/rva22u64", []string{"riscv64 takes no variant", "use linux/riscv64"}},
		{"linux", []string{"os/arch[/variant]", "linux/amd64"}},
		{"amd64", []string{"os/arch[/variant]"}},
		{"linux/amd64/v2/x", []string{"os/arch[/variant]"}},
		{"linux//v7", []string{"os/arch[/variant]"}},
		{"/amd64", []string{"os/arch[/variant]"}},
		{"linux/amd64/", []string{"os/arch[/variant]"}},
		{"", []string{"os/arch[/variant]"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := ParseOne(tt.in)
			if err == nil {
				t.Fatalf("ParseOne(%q) = %+v, want an error", tt.in, p)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ParseOne(%q) error %q does not contain %q", tt.in, err, w)
				}
			}
		})
	}
}

func TestParseList(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"linux/amd64", []string{"linux/amd64"}},
		{"linux/arm64,linux/amd64", []string{"linux/arm64", "linux/amd64"}},
		{" linux/amd64 , linux/arm ", []string{"linux/amd64", "linux/arm/v7"}},
		// Duplicates after normalisation are dropped; the first keeps its place.
		{"linux/arm,linux/amd64,linux/arm/v7", []string{"linux/arm/v7", "linux/amd64"}},
		{"linux/x86_64,linux/amd64/v1,linux/amd64", []string{"linux/amd64"}},
		{"linux/arm64/v8,linux/aarch64,linux/arm64", []string{"linux/arm64"}},
		{"linux/amd64/v3,linux/amd64", []string{"linux/amd64/v3", "linux/amd64"}},
		{"linux/amd64,,linux/386,", []string{"linux/amd64", "linux/386"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			ps, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			var got []string
			for _, p := range ps {
				got = append(got, String(p))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Parse(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseListErrors(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"", "no platform given"},
		{" , ,", "no platform given"},
		{"linux/amd64,darwin/arm64", `"darwin/arm64"`},
		{"linux/amd64,linux/bogus", `unknown architecture "bogus"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			ps, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want an error", tt.in, ps)
			}
			if ps != nil {
				t.Errorf("Parse(%q) returned platforms %v along with an error", tt.in, ps)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse(%q) error %q does not contain %q", tt.in, err, tt.want)
			}
			if tt.want == "no platform given" && !strings.Contains(err.Error(), "linux/amd64") {
				t.Errorf("Parse(%q) error %q gives no example of what to write", tt.in, err)
			}
		})
	}
}

func TestGoEnv(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"linux/amd64", []string{"GOOS=linux", "GOARCH=amd64"}},
		{"linux/amd64/v1", []string{"GOOS=linux", "GOARCH=amd64"}},
		{"linux/amd64/v3", []string{"GOOS=linux", "GOARCH=amd64", "GOAMD64=v3"}},
		{"linux/arm", []string{"GOOS=linux", "GOARCH=arm", "GOARM=7"}},
		{"linux/arm/v6", []string{"GOOS=linux", "GOARCH=arm", "GOARM=6"}},
		{"linux/arm/v5", []string{"GOOS=linux", "GOARCH=arm", "GOARM=5"}},
		{"linux/arm64", []string{"GOOS=linux", "GOARCH=arm64"}},
		{"linux/arm64/v8", []string{"GOOS=linux", "GOARCH=arm64"}},
		{"linux/arm64/v9.0", []string{"GOOS=linux", "GOARCH=arm64", "GOARM64=v9.0"}},
		{"linux/arm64/v8.3", []string{"GOOS=linux", "GOARCH=arm64", "GOARM64=v8.3"}},
		{"linux/386", []string{"GOOS=linux", "GOARCH=386"}},
		{"linux/ppc64le", []string{"GOOS=linux", "GOARCH=ppc64le"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := ParseOne(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := GoEnv(p); !slices.Equal(got, tt.want) {
				t.Errorf("GoEnv(%s) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		p    v1.Platform
		want string
	}{
		{v1.Platform{OS: "linux", Architecture: "amd64"}, "linux/amd64"},
		{v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, "linux/arm/v7"},
		{v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v9.0"}, "linux/arm64/v9.0"},
	}
	for _, tt := range tests {
		if got := String(tt.p); got != tt.want {
			t.Errorf("String(%+v) = %q, want %q", tt.p, got, tt.want)
		}
	}
}

// String and ParseOne round-trip for every normalised platform.
func TestStringRoundTrip(t *testing.T) {
	for arch, vs := range variants {
		for _, v := range append([]string{""}, vs...) {
			s := "linux/" + arch
			if v != "" {
				s += "/" + v
			}
			p, err := ParseOne(s)
			if err != nil {
				t.Errorf("ParseOne(%q): %v", s, err)
				continue
			}
			q, err := ParseOne(String(p))
			if err != nil {
				t.Errorf("ParseOne(String(%q)) = ParseOne(%q): %v", s, String(p), err)
				continue
			}
			if !q.Equals(p) {
				t.Errorf("round trip of %q: %+v then %+v", s, p, q)
			}
		}
	}
}

func TestHost(t *testing.T) {
	h := Host()
	if h.OS != "linux" || h.Architecture != runtime.GOARCH || h.Variant != "" {
		t.Errorf("Host() = %+v, want linux/%s", h, runtime.GOARCH)
	}
}
