//go:build unix

// Package run builds a program for the machine kiln runs on and runs it:
// as a container in podman or docker, or directly as a process, for a fast
// edit loop. The program is told its port with $PORT; it is stopped, and
// its container removed, when the context is cancelled.
package run

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/internal/lazy"
	"github.com/kiln-build/kiln/pkg/build"
	"github.com/kiln-build/kiln/pkg/engine"
	"github.com/kiln-build/kiln/pkg/plan"
	"github.com/kiln-build/kiln/pkg/platform"
	"github.com/kiln-build/kiln/pkg/progress"
	"github.com/kiln-build/kiln/pkg/publish"
)

// ContainerPort is the port programs listen on inside the container:
// kiln sets PORT to it.
const ContainerPort = 8080

// DefaultPort is the host port used when it is free and none is asked for.
const DefaultPort = 8080

// Options say what to run and how.
type Options struct {
	// Dir is where Target is resolved from; "" means the current directory.
	Dir string
	// Target is a main package or function: a directory or import path;
	// "" means ".".
	Target string
	// Env is the environment kiln builds in and the host program starts
	// from; nil means the process's.
	Env []string
	// Engine is "podman", "docker", or "" for the first one installed.
	Engine string
	// Host runs the program directly on this machine, not in a container.
	Host bool
	// Port is the port on 127.0.0.1 to serve on; 0 means 8080 when it is
	// free, else any free port.
	Port int
	// RunEnv is KEY=VALUE set for the program.
	RunEnv []string
	// StopTimeout is how long the program has to stop before it is
	// killed; 0 means 10s.
	StopTimeout time.Duration
	// Progress is told about the build; nil shows nothing.
	Progress progress.Reporter
	// Stdout and Stderr get the program's output; nil discards it.
	Stdout, Stderr io.Writer
	// Started is called once the program has started.
	Started func(Started)
}

// Started says what runs where.
type Started struct {
	Program string // its name
	Engine  string // "podman", "docker", or "host"
	URL     string // where to call it
}

func (opt *Options) setDefaults() error {
	// "" is the current directory.
	dir, err := filepath.Abs(opt.Dir)
	if err != nil {
		return err
	}
	opt.Dir = dir
	if opt.Env == nil {
		opt.Env = os.Environ()
	}
	if opt.Target == "" {
		opt.Target = "."
	}
	if opt.StopTimeout == 0 {
		opt.StopTimeout = 10 * time.Second
	}
	if opt.Progress == nil {
		opt.Progress = progress.Discard
	}
	if opt.Stdout == nil {
		opt.Stdout = io.Discard
	}
	if opt.Stderr == nil {
		opt.Stderr = io.Discard
	}
	if opt.Started == nil {
		opt.Started = func(Started) {}
	}
	for _, kv := range opt.RunEnv {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("environment variable %q: write KEY=VALUE", kv)
		}
	}
	return nil
}

// Run builds the program and runs it until it exits or ctx is cancelled.
// Cancelling ctx stops it (SIGTERM, then SIGKILL after StopTimeout) and,
// for a container, removes the container; Run then returns nil. A program
// that exits by itself makes Run return an error unless its status is 0.
func Run(ctx context.Context, opt Options) error {
	if err := opt.setDefaults(); err != nil {
		return err
	}
	if opt.Host {
		return runHost(ctx, opt)
	}
	eng, err := FindEngine(opt.Engine, opt.Env)
	if err != nil {
		return err
	}
	return runContainer(ctx, opt, eng)
}

func runHost(ctx context.Context, opt Options) error {
	port, err := pickPort(opt.Port)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "kiln-run-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	exe, err := build.BuildExecutable(ctx, build.Options{Plan: plan.Options{Dir: opt.Dir, Targets: []string{opt.Target}, Env: opt.Env, Progress: opt.Progress}}, dir)
	if err != nil {
		return err
	}
	cmd := exec.Command(exe.Command[0], exe.Command[1:]...)
	cmd.Dir = opt.Dir
	// A function listens on LISTEN_ADDRESS, so only this machine reaches
	// it; a program that reads only PORT listens on every address.
	cmd.Env = append(append(append([]string(nil), opt.Env...), exe.Env...), "PORT="+strconv.Itoa(port), "LISTEN_ADDRESS="+net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	cmd.Env = append(cmd.Env, opt.RunEnv...)
	cmd.Stdout, cmd.Stderr = opt.Stdout, opt.Stderr
	// Its own process group: a Ctrl-C in the terminal reaches kiln only,
	// which then stops the program once, with SIGTERM.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", exe.Command[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	opt.Started(Started{Program: exe.Name, Engine: "host", URL: url(port)})
	select {
	case err := <-done:
		return exited(exe.Name, err)
	case <-ctx.Done():
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(opt.StopTimeout):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return fmt.Errorf("%s did not stop within %v of SIGTERM and was killed", exe.Name, opt.StopTimeout)
	}
	return nil
}

func runContainer(ctx context.Context, opt Options, eng *engine.Engine) error {
	port, err := pickPort(opt.Port)
	if err != nil {
		return err
	}
	res, err := build.Build(ctx, build.Options{Plan: plan.Options{
		Dir:        opt.Dir,
		Targets:    []string{opt.Target},
		Platforms:  []v1.Platform{platform.Host()},
		Env:        opt.Env,
		Progress:   opt.Progress,
		OneProgram: true,
	}})
	if err != nil {
		return err
	}
	img := res.Images[0]
	locs, err := publish.Engine{Engine: eng, Prefix: "localhost/kiln/", Progress: opt.Progress}.Publish(ctx, []publish.Image{{Name: strings.ReplaceAll(img.Name, ":", "-"), Artifact: img.Artifact}})
	if err != nil {
		return err
	}
	ref := locs[0].Ref

	container := "kiln-" + nonName().ReplaceAllString(filepath.Base(img.Name), "-") + "-" + randomHex()
	args := []string{"run", "--rm", "--name", container,
		"-p", fmt.Sprintf("127.0.0.1:%d:%d", port, ContainerPort),
		"-e", fmt.Sprintf("PORT=%d", ContainerPort)}
	for _, kv := range opt.RunEnv {
		args = append(args, "-e", kv)
	}
	args = append(args, ref)
	cmd := exec.Command(eng.Path, args...)
	cmd.Env = eng.Env
	cmd.Stdout, cmd.Stderr = opt.Stdout, opt.Stderr
	// Its own process group: kiln, not the terminal, stops the container.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", eng.Name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	opt.Started(Started{Program: img.Name, Engine: eng.Name, URL: url(port)})
	select {
	case err := <-done:
		// The status is the program's, or the engine's own (125 and up
		// for podman and docker) when it could not run it.
		return exited(fmt.Sprintf("%s run of %s", eng.Name, img.Name), err)
	case <-ctx.Done():
	}
	return stopContainer(eng, container, opt.StopTimeout, cmd, done)
}

// stopContainer has the engine stop the container (SIGTERM, then SIGKILL
// after timeout) and waits for "run" to end, which removes it. A stop that
// comes before the engine has created the container finds nothing, so it
// is repeated until "run" ends.
func stopContainer(eng *engine.Engine, container string, timeout time.Duration, run *exec.Cmd, done <-chan error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout+30*time.Second)
	defer cancel()
	secs := strconv.Itoa(int((timeout + time.Second - 1) / time.Second))
	for {
		eng.Command(ctx, "stop", "-t", secs, container).Run()
		select {
		case <-done:
			// --rm has removed it; make sure, in case run was cut short.
			eng.Command(context.Background(), "rm", "-f", container).Run()
			return nil
		case <-time.After(time.Second):
		case <-ctx.Done():
			run.Process.Kill()
			<-done
			eng.Command(context.Background(), "rm", "-f", container).Run()
			return fmt.Errorf("%s did not stop container %s; it was removed by force", eng.Name, container)
		}
	}
}

var nonName = lazy.Regexp(`[^a-zA-Z0-9_.-]+`)

func randomHex() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func url(port int) string { return fmt.Sprintf("http://127.0.0.1:%d/", port) }

// exited turns a program's end into an error unless it exited with 0.
func exited(what string, err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &ExitError{What: what, Code: ee.ExitCode(), State: ee.ProcessState.String()}
	}
	return err
}

// ExitError says the program (or the engine's run of it) ended with a
// status other than 0. kiln run exits with Code, as the program did.
type ExitError struct {
	What  string
	Code  int    // the exit status; -1 when a signal ended it
	State string // "exit status 3", "signal: killed"
}

func (e *ExitError) Error() string { return e.What + " exited with " + e.State }

// pickPort returns want if it is free on 127.0.0.1, or for 0 the default
// port when it is free, else a free port the kernel picks.
func pickPort(want int) (int, error) {
	if want < 0 || want > 65535 {
		return 0, fmt.Errorf("port %d is not a port number", want)
	}
	if want > 0 {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(want)))
		if err != nil {
			return 0, fmt.Errorf("port %d: 127.0.0.1:%d is in use: %w", want, want, ErrPortInUse)
		}
		l.Close()
		return want, nil
	}
	for _, addr := range []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(DefaultPort)), "127.0.0.1:0"} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no free port on 127.0.0.1: %w", ErrPortInUse)
}
