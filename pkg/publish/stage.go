package publish

import (
	"context"
	"os"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/pkg/blob"
	"github.com/kiln-build/kiln/pkg/layout"
	"github.com/kiln-build/kiln/pkg/lock"
)

// Stage readies a Layout for the images a build is making: each blob
// given to Add (a layer, as soon as the build has written it) is copied
// into the layout in the background, under the layout's lock, taken with
// the first. Publish, given the Stage (Layout.Staged), then finds those
// blobs there and only writes what is left: copying a program's layer
// of megabytes no longer waits for the build's last steps. Close ends it:
// when Publish did not run (the build failed), the blobs it copied are
// removed again, so a failed build adds nothing to the layout.
//
// Staging is only ever ahead of Publish: a blob it failed to copy is
// copied by Publish as before.
type Stage struct {
	dir      string
	progress func()

	mu     sync.Mutex
	queue  []staged
	closed bool // Add takes no more
	wake   chan struct{}
	done   chan struct{} // the copier's end

	// The copier's, read once done is closed.
	release func() // the layout's lock, if taken
	added   []v1.Hash
	taken   bool // Publish took over the lock
}

type staged struct {
	f *os.File
	h v1.Hash
}

// Stage starts staging blobs for p (see Stage); ctx bounds the wait for
// the layout's lock. Give it to Publish as p.Staged, and Close it.
func (p Layout) Stage(ctx context.Context) *Stage {
	s := &Stage{dir: p.Dir, progress: p.waiting(), wake: make(chan struct{}, 1), done: make(chan struct{})}
	go s.copier(ctx)
	return s
}

// Add stages the blob h of the store src, a build's (Fresh): the file is
// opened now, before the build can move it, and copied in the background.
// It does not block; a blob it cannot open is left for Publish.
func (s *Stage) Add(src blob.Store, h v1.Hash) {
	f, err := os.Open(src.Path(h))
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		f.Close()
		return
	}
	s.queue = append(s.queue, staged{f, h})
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// copier copies the staged blobs in, taking the lock with the first.
func (s *Stage) copier(ctx context.Context) {
	defer close(s.done)
	lay := layout.Layout{Root: s.dir}
	tried := false
	for {
		s.mu.Lock()
		batch, closed := s.queue, s.closed
		s.queue = nil
		s.mu.Unlock()
		for _, b := range batch {
			if !tried {
				// A folder that is not a layout is left alone, and any
				// failure left for Publish to report.
				tried = true
				if layout.CheckDir(s.dir) == nil {
					if release, err := lock.Lock(ctx, s.dir, s.progress); err == nil {
						if lay.Init() == nil {
							s.release = release
						} else {
							release()
						}
					}
				}
			}
			if s.release != nil {
				if copied, err := lay.Blobs().LinkFile(b.f, b.h); err == nil && copied {
					s.added = append(s.added, b.h)
				}
			}
			b.f.Close()
		}
		if closed {
			return
		}
		<-s.wake
	}
}

// finish stops taking blobs and waits for those taken to be copied.
func (s *Stage) finish() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	<-s.done
}

// takeLock waits for the staged copies and hands the layout's lock over
// to Publish, which then releases it; ok is false when the Stage holds
// none (it copied nothing).
func (s *Stage) takeLock() (release func(), ok bool) {
	s.finish()
	if s.release == nil {
		return nil, false
	}
	s.taken = true
	return s.release, true
}

// Close ends the Stage. Unless Publish took it over, the blobs it copied
// are removed and the layout's lock is released.
func (s *Stage) Close() {
	if s == nil {
		return
	}
	s.finish()
	if s.taken || s.release == nil {
		return
	}
	store := layout.Layout{Root: s.dir}.Blobs()
	for _, h := range s.added {
		os.Remove(store.Path(h))
	}
	s.release()
	s.release = nil
}
