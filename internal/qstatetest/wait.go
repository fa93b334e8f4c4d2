package qstatetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// Timeout bounds every wait of a test that has no reason to choose its own:
// far longer than anything takes on a loaded machine, short enough that a
// hang fails the test instead of the test binary.
const Timeout = 10 * time.Second

// pollEvery is how often Eventually looks at its condition again.
const pollEvery = time.Millisecond

// Eventually waits until cond holds, looking at it every millisecond, and
// fails t ("timed out after … waiting for what") if it does not within
// timeout. It is for states that raise no event (a counter of another
// component); wait on an event (Recv, Events) where there is one.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, what string) {
	t.Helper()
	Retry(t, timeout, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	}, what)
}

// errNotYet is the error Eventually's condition reports while it does not
// hold.
var errNotYet = errors.New("the condition still does not hold")

// Retry calls f every millisecond until it returns nil and fails t, with
// f's last error, if it does not within timeout. It is Eventually for a
// condition that can say why it does not hold yet.
func Retry(t testing.TB, timeout time.Duration, f func() error, what string) {
	t.Helper()
	var last error
	cond := func() bool { last = f(); return last == nil }
	if cond() {
		return
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if cond() {
				return
			}
		case <-deadline.C:
			if cond() {
				return
			}
			t.Fatalf("timed out after %v waiting for %s: %v", timeout, what, last)
		}
	}
}

// Recv waits for a value on ch (or for ch to be closed: the zero value) and
// fails t if none comes within timeout.
func Recv[T any](t testing.TB, ch <-chan T, timeout time.Duration, what string) T {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	select {
	case v := <-ch:
		return v
	case <-deadline.C:
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
		var zero T
		return zero
	}
}

// Events records events of type E that other goroutines report (Add) and
// lets the test wait for them. The zero value is ready to use.
type Events[E any] struct {
	mu      sync.Mutex
	list    []E
	changed chan struct{} // closed and replaced at each Add
}

// Add records ev and wakes the waiters (any goroutine).
func (e *Events[E]) Add(ev E) {
	e.mu.Lock()
	e.list = append(e.list, ev)
	if e.changed != nil {
		close(e.changed)
		e.changed = nil
	}
	e.mu.Unlock()
}

// All returns a copy of the events recorded so far, in order.
func (e *Events[E]) All() []E {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]E(nil), e.list...)
}

// Count returns how many of the events recorded so far match.
func (e *Events[E]) Count(match func(E) bool) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.count(match)
}

func (e *Events[E]) count(match func(E) bool) int {
	n := 0
	for _, ev := range e.list {
		if match == nil || match(ev) {
			n++
		}
	}
	return n
}

// WaitN waits until at least n recorded events match (match nil matches
// all) and returns the matching events; it fails t, naming what and the
// events seen, if that does not happen within timeout.
func (e *Events[E]) WaitN(t testing.TB, timeout time.Duration, n int, match func(E) bool, what string) []E {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		e.mu.Lock()
		if e.count(match) >= n {
			var out []E
			for _, ev := range e.list {
				if match == nil || match(ev) {
					out = append(out, ev)
				}
			}
			e.mu.Unlock()
			return out
		}
		if e.changed == nil {
			e.changed = make(chan struct{})
		}
		changed := e.changed
		e.mu.Unlock()
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s (%d of %d; events: %v)", timeout, what, e.Count(match), n, e.All())
			return nil
		}
	}
}

// Wait waits for one recorded event that matches and returns the first.
func (e *Events[E]) Wait(t testing.TB, timeout time.Duration, match func(E) bool, what string) E {
	t.Helper()
	return e.WaitN(t, timeout, 1, match, what)[0]
}

// Closer is what CloseAtCleanup closes: a handler's pool, a node.
type Closer interface {
	Close(ctx context.Context) error
}

// CloseAtCleanup closes c at the test's cleanup, giving it Timeout, and
// fails t, naming what, if Close fails. Cleanups run in reverse order of
// registration: registered before the servers that use c start, it runs
// after they stopped.
func CloseAtCleanup(t testing.TB, what string, c Closer) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), Timeout)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("%s: Close: %v", what, err)
		}
	})
}

// IsClosed reports whether ch is closed, without waiting: the condition of
// a loop that runs until the test closes its stop channel.
func IsClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
