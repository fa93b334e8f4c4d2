package handler

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// deadlineCtx is a context.Context that ends at a deadline, recycled
// through deadlinePool when it is released before its deadline: a
// forwarded request then costs no allocation, where context.WithTimeout
// costs five (cluster's BenchmarkForward and TestForwardDoesNotAllocate).
// It carries no values and has no parent.
//
// It may be recycled only because the Forwarder it is given to keeps
// nothing of it after its call returns (the Forwarder contract says so):
// contexts derived from it (context.WithCancel, AfterFunc) must end
// before Forward returns.
type deadlineCtx struct {
	done     chan struct{} // closed by expire
	timer    *time.Timer   // runs expire at the deadline
	deadline time.Time     // set by acquire, read by the owner only
	expired  atomic.Bool   // set before done is closed
}

var deadlinePool sync.Pool

// acquireDeadline returns a context that ends at deadline (at once if it
// has passed); release it.
func acquireDeadline(deadline time.Time) *deadlineCtx {
	d := time.Until(deadline)
	c, _ := deadlinePool.Get().(*deadlineCtx)
	if c == nil {
		c = &deadlineCtx{done: make(chan struct{})}
		c.deadline = deadline
		c.timer = time.AfterFunc(d, c.expire)
		return c
	}
	c.deadline = deadline
	c.timer.Reset(d)
	return c
}

// release stops the timer and recycles c if it had not expired; an
// expired one (its channel closed) is left to the garbage collector.
func (c *deadlineCtx) release() {
	if c.timer.Stop() { // expire never ran and never will
		deadlinePool.Put(c)
	}
}

func (c *deadlineCtx) expire() {
	c.expired.Store(true)
	close(c.done)
}

// Deadline implements context.Context.
func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.deadline, true }

// Done implements context.Context.
func (c *deadlineCtx) Done() <-chan struct{} { return c.done }

// Err implements context.Context: context.DeadlineExceeded once expired.
func (c *deadlineCtx) Err() error {
	if c.expired.Load() {
		return context.DeadlineExceeded
	}
	return nil
}

// Value implements context.Context: there are no values.
func (c *deadlineCtx) Value(any) any { return nil }
