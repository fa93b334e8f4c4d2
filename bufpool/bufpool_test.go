package bufpool_test

import (
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"testing"
	"unsafe"

	"github.com/qstate/qstate/bufpool"
)

// noGC turns the collector off for the test, so pooled slices stay pooled.
func noGC(t *testing.T) {
	t.Helper()
	old := debug.SetGCPercent(-1)
	t.Cleanup(func() { debug.SetGCPercent(old) })
}

// base returns the address of b's array.
func base(b []byte) *byte { return unsafe.SliceData(b[:1]) }

func TestGetClasses(t *testing.T) {
	tests := []struct{ n, cap int }{
		{-5, 64}, {0, 64}, {1, 64}, {63, 64}, {64, 64}, {65, 128}, {100, 128}, {1000, 1024},
		{1024, 1024}, {1025, 2048}, {40 << 10, 64 << 10}, {16 << 20, 16 << 20},
		{16<<20 + 4, 32 << 20}, {32 << 20, 32 << 20}, {32<<20 + 1, 32<<20 + 1},
	}
	for _, tc := range tests {
		b := bufpool.Get(tc.n)
		if len(b) != 0 || cap(b) != tc.cap {
			t.Errorf("Get(%d): len %d cap %d, want len 0 cap %d", tc.n, len(b), cap(b), tc.cap)
		}
		if got := bufpool.ClassOf(tc.n); got != tc.cap {
			t.Errorf("ClassOf(%d) = %d, want %d", tc.n, got, tc.cap)
		}
		// The slice is usable up to its capacity.
		b = b[:cap(b)]
		b[0], b[len(b)-1] = 1, 2
		bufpool.Put(b)
	}
	if bufpool.MinClass != 64 || bufpool.MaxClass != 32<<20 {
		t.Errorf("classes %d..%d, want 64..32 MiB", bufpool.MinClass, bufpool.MaxClass)
	}
}

// tryReuse Puts what put returns and reports whether a Get(n) that follows
// hands the same array back, within a bounded number of tries (sync.Pool
// may drop an item: under -race one Put in four, and on a move to another
// P). Each try first takes an item out of the slot a Get looks at first,
// so that the Put lands there, and gives it back at the end: memory stays
// bounded even with the collector off.
func tryReuse(t *testing.T, put func() []byte, n int) (reused bool, capOnReuse int) {
	t.Helper()
	return tryReuseN(t, put, n, 20)
}

func tryReuseN(t *testing.T, put func() []byte, n, tries int) (reused bool, capOnReuse int) {
	t.Helper()
	for range tries {
		old := bufpool.Get(n)
		b := put()
		p := base(b)
		bufpool.Put(b)
		g := bufpool.Get(n)
		if base(g) == p {
			bufpool.Put(old)
			return true, cap(g)
		}
		bufpool.Put(g)
		bufpool.Put(old)
	}
	return false, 0
}

func TestReuse(t *testing.T) {
	noGC(t)
	ok, c := tryReuse(t, func() []byte { return append(bufpool.Get(1000), "hello"...) }, 700)
	if !ok || c != 1024 {
		t.Errorf("a 1 KiB slice Put back was not handed out again by Get(700) (reused %v, cap %d)", ok, c)
	}
	// A foreign slice whose cap is a class joins that class.
	ok, c = tryReuse(t, func() []byte { return make([]byte, 10, 4096) }, 4096)
	if !ok || c != 4096 {
		t.Errorf("a foreign 4 KiB slice was not reused (reused %v, cap %d)", ok, c)
	}
}

func TestPutBetweenClassesFilesOneDown(t *testing.T) {
	noGC(t)
	ok, c := tryReuse(t, func() []byte { return make([]byte, 0, 1500) }, 1024)
	if !ok || c != 1024 {
		t.Errorf("a 1500-byte slice was not reused as a 1 KiB one (reused %v, cap %d)", ok, c)
	}
	if ok, _ := tryReuse(t, func() []byte { return make([]byte, 0, 1500) }, 1025); ok {
		t.Errorf("a 1500-byte slice was handed out for 1025 bytes, in the 2 KiB class")
	}
	ok, c = tryReuse(t, func() []byte { return make([]byte, 0, 100) }, 1)
	if !ok || c != 64 {
		t.Errorf("a 100-byte slice was not reused in the 64 B class (reused %v, cap %d)", ok, c)
	}
}

func TestPutDropsOutOfRange(t *testing.T) {
	noGC(t)
	if ok, _ := tryReuse(t, func() []byte { return make([]byte, 0, 63) }, 1); ok {
		t.Errorf("a 63-byte slice was pooled")
	}
	big := bufpool.Get(bufpool.MaxClass + 1)
	if cap(big) != bufpool.MaxClass+1 {
		t.Fatalf("Get(MaxClass+1) cap %d", cap(big))
	}
	// Few tries: each moves 32 MiB slices, slow under -race.
	if ok, _ := tryReuseN(t, func() []byte { return big }, bufpool.MaxClass, 3); ok {
		t.Fatalf("an oversize slice was pooled")
	}
	bufpool.Put(nil)
	bufpool.Put([]byte{})
}

// TestConcurrent: goroutines Get, fill with their own byte, check and Put,
// in a bounded loop. A slice handed to two owners at once shows up as a
// wrong byte, and as a data race under -race.
func TestConcurrent(t *testing.T) {
	const goroutines, rounds = 8, 2000
	var wg sync.WaitGroup
	errs := make(chan string, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			mark := byte(g + 1)
			for range rounds {
				n := 1 + rng.IntN(8<<10)
				b := bufpool.Get(n)
				if len(b) != 0 || cap(b) < n {
					errs <- "Get gave a wrong slice"
					return
				}
				b = b[:n]
				for i := range b {
					b[i] = mark
				}
				for i := range b {
					if b[i] != mark {
						errs <- "a slice was shared between owners"
						return
					}
				}
				bufpool.Put(b)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
