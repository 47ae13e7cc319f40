// Package platform parses the platforms kiln builds for ("linux/arm/v7") and
// maps each to the Go toolchain environment that targets it.
package platform

import (
	"fmt"
	"runtime"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// variants lists, per Linux architecture the Go toolchain supports, the
// variants kiln accepts. An architecture with no entry takes no variant.
var variants = map[string][]string{
	"386":      nil,
	"amd64":    {"v1", "v2", "v3", "v4"},
	"arm":      {"v5", "v6", "v7"},
	"arm64":    {"v8.0", "v8.1", "v8.2", "v8.3", "v8.4", "v8.5", "v8.6", "v8.7", "v8.8", "v8.9", "v9.0", "v9.1", "v9.2", "v9.3", "v9.4", "v9.5"},
	"loong64":  nil,
	"mips":     nil,
	"mips64":   nil,
	"mips64le": nil,
	"mipsle":   nil,
	"ppc64":    nil,
	"ppc64le":  nil,
	"riscv64":  nil,
	"s390x":    nil,
}

// aliases maps names people use for architectures to Go's names.
var aliases = map[string]string{
	"x86_64":  "amd64",
	"x86-64":  "amd64",
	"aarch64": "arm64",
	"armhf":   "arm",
	"i386":    "386",
}

// Host is the default platform: Linux on the host's architecture.
func Host() v1.Platform {
	return v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

// Parse parses a comma-separated list such as "linux/amd64,linux/arm/v7".
// Duplicates are dropped and the order is kept.
func Parse(list string) ([]v1.Platform, error) {
	var out []v1.Platform
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := ParseOne(s)
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(out, p.Equals) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no platform given: use the form os/arch[/variant], e.g. linux/amd64,linux/arm64")
	}
	return out, nil
}

// ParseOne parses and normalises one platform: "linux/arm" becomes
// linux/arm/v7 and "linux/arm64/v8" becomes linux/arm64, as container
// runtimes match them.
func ParseOne(s string) (v1.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || slices.Contains(parts, "") {
		return v1.Platform{}, fmt.Errorf("platform %q: use the form os/arch[/variant], e.g. linux/amd64 or linux/arm/v7", s)
	}
	p := v1.Platform{OS: strings.ToLower(parts[0]), Architecture: strings.ToLower(parts[1])}
	if len(parts) == 3 {
		p.Variant = strings.ToLower(parts[2])
	}
	if p.OS != "linux" {
		return v1.Platform{}, fmt.Errorf("platform %q: kiln builds Linux images; use linux/%s", s, p.Architecture)
	}
	if a, ok := aliases[p.Architecture]; ok {
		p.Architecture = a
	}
	known, ok := variants[p.Architecture]
	if !ok {
		return v1.Platform{}, fmt.Errorf("platform %q: unknown architecture %q; known: %s", s, parts[1], strings.Join(architectures(), ", "))
	}
	switch {
	case p.Architecture == "arm" && p.Variant == "":
		p.Variant = "v7"
	case p.Architecture == "arm64" && (p.Variant == "v8" || p.Variant == "v8.0"):
		p.Variant = ""
	case p.Architecture == "amd64" && p.Variant == "v1":
		p.Variant = ""
	}
	if p.Variant != "" && !slices.Contains(known, p.Variant) {
		if len(known) == 0 {
			return v1.Platform{}, fmt.Errorf("platform %q: %s takes no variant; use linux/%s", s, p.Architecture, p.Architecture)
		}
		return v1.Platform{}, fmt.Errorf("platform %q: unknown variant %q for %s; known: %s", s, p.Variant, p.Architecture, strings.Join(known, ", "))
	}
	return p, nil
}

func architectures() []string {
	var out []string
	for a := range variants {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// GoEnv returns the environment that makes the Go toolchain target p.
func GoEnv(p v1.Platform) []string {
	env := []string{"GOOS=" + p.OS, "GOARCH=" + p.Architecture}
	switch p.Architecture {
	case "arm":
		env = append(env, "GOARM="+strings.TrimPrefix(p.Variant, "v"))
	case "amd64":
		if p.Variant != "" {
			env = append(env, "GOAMD64="+p.Variant)
		}
	case "arm64":
		if p.Variant != "" {
			env = append(env, "GOARM64="+p.Variant)
		}
	}
	return env
}

// String formats p as os/arch[/variant].
func String(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Common lists the platforms people ask for, for shell completion:
// linux/ARCH for every architecture, and the arm variants images are
// published for.
func Common() []string {
	var out []string
	for _, a := range architectures() {
		out = append(out, "linux/"+a)
		if a == "arm" {
			out = append(out, "linux/arm/v6", "linux/arm/v7")
		}
	}
	return out
}
