package freelist

import (
	"runtime"
	"sync"
	"testing"
)

// TestList: an empty list gives nil; Get returns what was put, the last
// put first; a list that holds enough objects allocates nothing.
func TestList(t *testing.T) {
	var l List[int]
	if x := l.Get(); x != nil {
		t.Fatalf("empty list: Get = %v, want nil", x)
	}
	a, b := new(int), new(int)
	l.Put(a)
	l.Put(b)
	if x := l.Get(); x != b {
		t.Fatalf("Get = %p, want the last put %p", x, b)
	}
	if x := l.Get(); x != a {
		t.Fatalf("Get = %p, want %p", x, a)
	}
	if x := l.Get(); x != nil {
		t.Fatalf("emptied list: Get = %v, want nil", x)
	}
	l.Put(a)
	if n := testing.AllocsPerRun(1000, func() { l.Put(l.Get()) }); n != 0 {
		t.Fatalf("Get and Put allocate %v times", n)
	}
}

// TestListConcurrent: objects taken and given back by many goroutines at
// once are never handed to two of them at the same time (-race checks the
// list's own accesses).
func TestListConcurrent(t *testing.T) {
	var l List[int]
	var wg sync.WaitGroup
	for g := 1; g <= 8; g++ {
		wg.Go(func() {
			for range 1000 {
				x := l.Get()
				if x == nil {
					x = new(int)
				}
				if *x != 0 {
					t.Errorf("object handed out while in use (holds %d)", *x)
					return
				}
				*x = g
				runtime.Gosched()
				if *x != g {
					t.Errorf("goroutine %d's object changed to %d while it held it", g, *x)
					return
				}
				*x = 0
				l.Put(x)
			}
		})
	}
	wg.Wait()
}
