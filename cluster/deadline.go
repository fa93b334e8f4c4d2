package cluster

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// deadlineCtx is a context.Context that ends at a deadline, recycled
// through deadlinePool when it is released before its deadline: a
// forwarded request then costs no allocation, where context.WithTimeout
// costs five (BenchmarkForward). It carries no values and has no parent.
//
// It may be recycled only because the one function it is given to,
// client.Client's call, reads Done and Err during the call and keeps
// nothing; a context handed to code that derives contexts from it
// (context.WithCancel, AfterFunc) must not be released while those live.
type deadlineCtx struct {
	done     chan struct{} // closed by expire
	timer    *time.Timer   // runs expire at the deadline
	deadline time.Time     // set by acquire, read by the owner only
	expired  atomic.Bool   // set before done is closed
}

var deadlinePool sync.Pool

// acquireDeadline returns a context that ends d from now; release it.
func acquireDeadline(d time.Duration) *deadlineCtx {
	c, _ := deadlinePool.Get().(*deadlineCtx)
	if c == nil {
		c = &deadlineCtx{done: make(chan struct{})}
		c.deadline = time.Now().Add(d)
		c.timer = time.AfterFunc(d, c.expire)
		return c
	}
	c.deadline = time.Now().Add(d)
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
