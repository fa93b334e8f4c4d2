package handler

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestDeadlineCtx: the recycled deadline ends like context.WithTimeout's,
// and one that ended is never handed out again.
func TestDeadlineCtx(t *testing.T) {
	c := acquireDeadline(time.Now().Add(time.Hour))
	if dl, ok := c.Deadline(); !ok || time.Until(dl) < 59*time.Minute {
		t.Errorf("Deadline = %v, %v", dl, ok)
	}
	if c.Err() != nil || c.Value("k") != nil {
		t.Errorf("fresh: Err %v, Value %v", c.Err(), c.Value("k"))
	}
	c.release()

	c = acquireDeadline(time.Now().Add(time.Millisecond))
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("deadline never ended")
	}
	if !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Errorf("Err after the deadline: %v", c.Err())
	}
	c.release()
	for range 100 {
		d := acquireDeadline(time.Now().Add(time.Hour))
		if d == c || d.Err() != nil {
			t.Fatal("an ended deadline was recycled")
		}
		d.release()
	}
}
