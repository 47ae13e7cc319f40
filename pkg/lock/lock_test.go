//go:build unix

package lock

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestLockCreatesDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	release, err := Lock(context.Background(), dir, func() { t.Error("waited for a lock nobody holds") })
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Errorf("Lock did not create %s: %v", dir, err)
	}
}

func TestLockWaits(t *testing.T) {
	dir := t.TempDir()
	release1, err := Lock(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}

	var waits atomic.Int32
	waiting := make(chan struct{}, 10)
	type res struct {
		release func()
		err     error
	}
	acquired := make(chan res, 1)
	go func() {
		r, err := Lock(context.Background(), dir, func() {
			waits.Add(1)
			waiting <- struct{}{}
		})
		acquired <- res{r, err}
	}()

	select {
	case <-waiting:
	case r := <-acquired:
		t.Fatalf("second Lock returned (%v) while the first was held", r.err)
	case <-time.After(5 * time.Second):
		t.Fatal("second Lock neither waited nor returned")
	}
	// Still waiting after a few polls.
	select {
	case r := <-acquired:
		t.Fatalf("second Lock returned (%v) while the first was held", r.err)
	case <-time.After(200 * time.Millisecond):
	}

	release1()
	select {
	case r := <-acquired:
		if r.err != nil {
			t.Fatal(r.err)
		}
		defer r.release()
	case <-time.After(5 * time.Second):
		t.Fatal("second Lock did not get the lock after it was released")
	}
	if n := waits.Load(); n != 1 {
		t.Errorf("waiting was called %d times, want once", n)
	}

	// Released again, the lock is free at once.
	// (r.release runs at the end; a third Lock must wait meanwhile.)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	if _, err := Lock(ctx, dir, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("third Lock while the second is held = %v, want a deadline error", err)
	}
}

func TestLockCancelled(t *testing.T) {
	dir := t.TempDir()
	release, err := Lock(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer release()

	ctx, cancel := context.WithCancel(context.Background())
	waited := false
	done := make(chan error, 1)
	go func() {
		_, err := Lock(ctx, dir, func() { waited = true; cancel() })
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Lock with a cancelled context = %v, want context.Canceled", err)
		}
		if !waited {
			t.Errorf("waiting was not called before giving up")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Lock kept waiting after its context was cancelled")
	}

	// Cancelled before the call: no wait at all when the lock is taken.
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := Lock(ctx2, dir, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Lock with a context cancelled beforehand = %v", err)
	}
}

const lockChildEnv = "KILN_TEST_LOCK_CHILD_DIR"

// TestLockChildProcess is not a test: TestLockReleasedOnKill runs the test
// binary with it to hold a lock in another process.
func TestLockChildProcess(t *testing.T) {
	dir := os.Getenv(lockChildEnv)
	if dir == "" {
		t.Skip("helper process for TestLockReleasedOnKill")
	}
	if _, err := Lock(context.Background(), dir, nil); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	time.Sleep(time.Minute)
	os.Exit(0)
}

func TestLockReleasedOnKill(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), lockChildEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})

	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			if s.Text() == "locked" || len(s.Text()) > 5 && s.Text()[:6] == "error:" {
				line <- s.Text()
				break
			}
		}
		close(line)
	}()
	select {
	case l := <-line:
		if l != "locked" {
			t.Fatalf("child process: %q", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("child process did not take the lock")
	}

	// The child holds the lock.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	waited := false
	if _, err := Lock(ctx, dir, func() { waited = true }); !errors.Is(err, context.DeadlineExceeded) || !waited {
		t.Fatalf("Lock while the child holds it = %v (waited %v), want to wait until the deadline", err, waited)
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want killed by SIGKILL", err)
	}

	// Free at once: no stale lock survives the holder.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	release, err := Lock(ctx2, dir, func() { t.Error("had to wait for the lock of a killed process") })
	if err != nil {
		t.Fatal(err)
	}
	release()
}
