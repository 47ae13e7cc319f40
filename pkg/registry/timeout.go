package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// Default timeouts. Bodies (layers) may be large and slow, so they are
// bounded by Idle, the time without a byte moving either way, not by a
// total.
const (
	DefaultDialTimeout           = 30 * time.Second
	DefaultTLSHandshakeTimeout   = 15 * time.Second
	DefaultResponseHeaderTimeout = 30 * time.Second
	DefaultIdleTimeout           = 60 * time.Second
)

// withDefaults fills in the zero fields.
func (t Timeouts) withDefaults() Timeouts {
	for _, f := range []struct {
		v *time.Duration
		d time.Duration
	}{{&t.Dial, DefaultDialTimeout}, {&t.TLSHandshake, DefaultTLSHandshakeTimeout}, {&t.ResponseHeader, DefaultResponseHeaderTimeout}, {&t.Idle, DefaultIdleTimeout}} {
		if *f.v <= 0 {
			*f.v = f.d
		}
	}
	return t
}

// idleConn is a connection on which every read or write pushes the
// deadline of both directions idle into the future, so a transfer may take
// as long as it needs while bytes move, and a peer that stops sending or
// reading is given up on after idle. Deadlines set by the connection's
// user (crypto/tls interrupting a handshake, say) still apply.
type idleConn struct {
	net.Conn
	idle time.Duration
	addr string

	mu     sync.Mutex
	active time.Time // the idle deadline
	rd, wd time.Time // deadlines set through Set*Deadline
}

func newIdleConn(c net.Conn, idle time.Duration, addr string) *idleConn {
	return &idleConn{Conn: c, idle: idle, addr: addr}
}

// earliest returns the earlier deadline; zero means none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// touch moves the idle deadline on.
func (c *idleConn) touch() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.active = time.Now().Add(c.idle)
	c.Conn.SetReadDeadline(earliest(c.rd, c.active))
	c.Conn.SetWriteDeadline(earliest(c.wd, c.active))
}

// explain turns a deadline error caused by the idle deadline (rather than
// one set by the user) into an IdleTimeoutError.
func (c *idleConn) explain(err error, user time.Time) error {
	if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !user.IsZero() && !user.After(c.active) {
		return err
	}
	return &IdleTimeoutError{Addr: c.addr, Idle: c.idle, Err: err}
}

func (c *idleConn) Read(b []byte) (int, error) {
	c.touch()
	n, err := c.Conn.Read(b)
	return n, c.explain(err, c.deadline(&c.rd))
}

func (c *idleConn) Write(b []byte) (int, error) {
	c.touch()
	n, err := c.Conn.Write(b)
	return n, c.explain(err, c.deadline(&c.wd))
}

func (c *idleConn) deadline(p *time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return *p
}

func (c *idleConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rd, c.wd = t, t
	if err := c.Conn.SetReadDeadline(earliest(t, c.active)); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(earliest(t, c.active))
}

func (c *idleConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rd = t
	return c.Conn.SetReadDeadline(earliest(t, c.active))
}

func (c *idleConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wd = t
	return c.Conn.SetWriteDeadline(earliest(t, c.active))
}

// IdleTimeoutError says that nothing moved on a connection to a registry
// for the idle timeout.
type IdleTimeoutError struct {
	Addr string
	Idle time.Duration
	Err  error
}

func (e *IdleTimeoutError) Error() string {
	return fmt.Sprintf("no data from %s for %v (idle timeout)", e.Addr, e.Idle)
}

func (e *IdleTimeoutError) Unwrap() error { return e.Err }
func (e *IdleTimeoutError) Timeout() bool { return true }

// dialer returns a DialContext that bounds the dial and wraps connections
// in idleConn.
func (t Timeouts) dialer() func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: t.Dial, KeepAlive: 30 * time.Second}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return newIdleConn(c, t.Idle, addr), nil
	}
}

// isTimeout reports whether err is a registry (or network) timeout.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}
