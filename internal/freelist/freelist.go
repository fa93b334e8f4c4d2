package freelist

import "sync"

// List is a free list of *T. The zero value is an empty list.
type List[T any] struct {
	mu   sync.Mutex
	free []*T
}

// Get takes the object put last, or returns nil when the list is empty
// (the caller then makes a new one).
func (l *List[T]) Get() *T {
	l.mu.Lock()
	var x *T
	if k := len(l.free); k > 0 {
		x = l.free[k-1]
		l.free[k-1] = nil
		l.free = l.free[:k-1]
	}
	l.mu.Unlock()
	return x
}

// Put gives x back to the list.
func (l *List[T]) Put(x *T) {
	l.mu.Lock()
	l.free = append(l.free, x)
	l.mu.Unlock()
}
