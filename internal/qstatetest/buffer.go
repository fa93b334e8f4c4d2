package qstatetest

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// Buffer collects what other goroutines write (a logger, a process's
// output) and lets the test wait for a text to appear. The zero value is
// ready to use.
type Buffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed and replaced at each Write
}

// Write appends p (any goroutine).
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.changed != nil {
		close(b.changed)
		b.changed = nil
	}
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Snapshot returns everything written so far and a channel closed at the
// next Write, for a test that waits on other events too.
func (b *Buffer) Snapshot() (string, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.changed == nil {
		b.changed = make(chan struct{})
	}
	return b.b.String(), b.changed
}

// WaitFor waits until what was written contains s and returns it all; it
// fails t, showing what was written, if s does not appear within timeout.
func (b *Buffer) WaitFor(t testing.TB, timeout time.Duration, s string) string {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		text, changed := b.Snapshot()
		if strings.Contains(text, s) {
			return text
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %q in:\n%s", timeout, s, b.String())
			return ""
		}
	}
}
