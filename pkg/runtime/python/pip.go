package python

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/internal/lazy"
	"github.com/kiln-build/kiln/pkg/platform"
	"github.com/kiln-build/kiln/pkg/runtime"
)

// PipArgs are the arguments of the pip install for one platform: binary
// wheels only, for the base's Python and the platform's tags, never for
// the host. Every platform, the host's included, is installed this way, so
// the result does not depend on the machine kiln runs on.
func PipArgs(dir, version string, tags []string, reqs []string) ([]string, error) {
	minor, err := MinorOf(version)
	if err != nil {
		return nil, err
	}
	abi := "cp" + strings.ReplaceAll(minor, ".", "")
	args := []string{"-m", "pip", "install",
		"--target", dir,
		"--no-compile",
		"--no-warn-script-location",
		"--disable-pip-version-check",
		"--progress-bar", "off",
		"--only-binary=:all:",
		"--python-version", minor,
		"--implementation", "cp",
		"--abi", abi,
	}
	for _, t := range tags {
		args = append(args, "--platform", t)
	}
	return append(args, reqs...), nil
}

// pip installs the project's requirements for p into dir with the host's
// pip, and writes its installation report to report. pip reads its usual settings (PIP_INDEX_URL, PIP_FIND_LINKS,
// PIP_NO_INDEX, pip.conf) from kiln's environment.
func (b *Builder) pip(ctx context.Context, dir, report string, p v1.Platform, version string, tags []string) error {
	args, err := PipArgs(dir, version, tags, b.requirementArgs())
	if err != nil {
		return err
	}
	if report != "" {
		// The report says what was installed from which wheel, for the SBOM.
		args = slices.Insert(args, 3, "--report", report)
	}
	if out, err := b.runPip(ctx, args); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return pipError(out, p, version, b.opt.Libc, err)
	}
	return nil
}

// runPip runs the host's Python with args (-m pip ...) in the project's
// directory and returns what it printed.
func (b *Builder) runPip(ctx context.Context, args []string) (string, error) {
	cmd := exec.CommandContext(ctx, b.opt.Python, args...)
	cmd.Dir = b.proj.Dir
	cmd.Env = b.pipCommandEnv()
	runtime.LogCommand(ctx, cmd)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// pipCommandEnv is pip's environment: kiln's, with the settings that
// would send the install elsewhere or refuse it overridden; the rest of
// pip's configuration is the user's.
func (b *Builder) pipCommandEnv() []string {
	return append(slices.Clone(b.opt.Env),
		"PIP_USER=0", "PIP_REQUIRE_VIRTUALENV=0", "PIP_ROOT_USER_ACTION=ignore",
		"PIP_TARGET=", "PIP_PREFIX=", "PYTHONDONTWRITEBYTECODE=1")
}

var noMatch = lazy.Regexp(`No matching distribution found for ([^\s;]+)`)

// PipError is a failed install; Package is set when pip found no wheel
// for a requirement.
type PipError struct {
	Platform, Python, Libc, Package, Output string
	// Network says pip could not reach an index: then "no matching
	// distribution" means nothing about wheels.
	Network bool
	Err     error
}

// networkFailure matches pip's (urllib3's) words for an index it could
// not reach.
var networkFailure = lazy.Regexp(`Name or service not known|Temporary failure in name resolution|Failed to establish a new connection|NewConnectionError|Connection refused|Network is unreachable|ProxyError|ConnectTimeoutError|Read timed out`)

func (e *PipError) Error() string {
	if e.Network {
		return fmt.Sprintf("pip could not reach the package index while installing the dependencies for %s (CPython %s, %s): check the network and proxy, or install from local wheels (PIP_NO_INDEX=1 PIP_FIND_LINKS=DIR).\npip said:\n%s", e.Platform, e.Python, e.Libc, e.Output)
	}
	if e.Package != "" {
		return fmt.Sprintf("no wheel of %s for %s (CPython %s, %s): kiln installs binary wheels only, built for the image's platform. Pin a version of %s that publishes a wheel for it, build one (pip wheel) into a folder named by PIP_FIND_LINKS, or leave %s out of the platforms.\npip said:\n%s",
			e.Package, e.Platform, e.Python, e.Libc, e.Package, e.Platform, e.Output)
	}
	return fmt.Sprintf("pip install of the dependencies for %s (CPython %s, %s) failed:\n%s\nfix the requirements or pip's settings (PIP_INDEX_URL, PIP_FIND_LINKS, pip.conf) and build again", e.Platform, e.Python, e.Libc, e.Output)
}

func (e *PipError) Unwrap() error { return e.Err }

func pipError(output string, p v1.Platform, version string, l Libc, err error) error {
	minor, _ := MinorOf(version)
	e := &PipError{Platform: platform.String(p), Python: minor, Libc: l.String(), Output: tail(strings.TrimSpace(output), 20), Err: err}
	if m := noMatch().FindStringSubmatch(output); m != nil {
		e.Package = m[1]
	}
	e.Network = networkFailure().MatchString(output)
	return e
}

// tail keeps the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
