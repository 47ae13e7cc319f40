//go:build unix

// Package lock takes locks on directories: an exclusive one for a writer
// (a build, an output layout, a cache prune) and shared ones for readers.
package lock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Lock takes an exclusive lock on the directory dir, creating it if needed,
// and waits while another process holds it, calling waiting once if it has
// to. The lock is an flock on the directory itself, not a lock file: the
// kernel drops it when the holder exits or is killed, so no stale lock can
// outlive a build.
func Lock(ctx context.Context, dir string, waiting func()) (release func(), err error) {
	return flock(ctx, dir, syscall.LOCK_EX, waiting)
}

// RLock takes a shared lock on dir: any number of RLock holders, but no
// Lock holder, at once.
func RLock(ctx context.Context, dir string) (release func(), err error) {
	return flock(ctx, dir, syscall.LOCK_SH, nil)
}

func flock(ctx context.Context, dir string, how int, waiting func()) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	told := false
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return func() {
				syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", dir, err)
		}
		if !told && waiting != nil {
			waiting()
			told = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
