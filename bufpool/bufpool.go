package bufpool

import (
	"math/bits"

	"github.com/panjf2000/gnet/v2/pkg/pool/byteslice"
)

// Size classes: powers of two from MinClass to MaxClass bytes.
const (
	// MinClass is the smallest class: Get never returns a capacity below it,
	// and Put drops slices smaller than it (not worth a pool slot).
	MinClass = 1 << minShift
	// MaxClass is the largest class: 32 MiB, so that a frame well above the
	// codec's default 4 MiB limit (a limit raised for large values) plus its
	// 4-byte length prefix still comes from a class. Get allocates larger requests directly; Put drops them.
	MaxClass = 1 << maxShift

	minShift = 6
	maxShift = 25
)

// pool is our own instance of gnet's pool (not gnet's package-level one),
// so a use-after-Put bug of ours cannot corrupt gnet's buffers or theirs ours.
var pool byteslice.Pool

// Get returns a slice with len 0 and cap >= n, for append-style encoders.
// It is the caller's until the caller passes it (or a reslice of it) to Put.
// Its contents are unspecified. n <= 0 is taken as 0 (a MinClass slice).
func Get(n int) []byte {
	if n > MaxClass {
		return make([]byte, 0, n)
	}
	return pool.Get(max(n, MinClass))[:0]
}

// Put returns b to the pool; the caller must not use b, nor any slice
// sharing its array, afterwards (I1). Only cap(b) matters: a cap that is a
// class files b in that class, a cap between classes files it one class
// down, and a cap below MinClass or above MaxClass drops it for the GC.
// Put(nil) is a no-op. b need not come from Get.
func Put(b []byte) {
	c := cap(b)
	if c < MinClass || c > MaxClass {
		return
	}
	if poison {
		fill(b[:c], PoisonByte)
	}
	pool.Put(b)
}

// ClassOf returns the capacity Get(n) hands out: the smallest class >= n,
// or n itself above MaxClass.
func ClassOf(n int) int {
	if n > MaxClass {
		return n
	}
	if n <= MinClass {
		return MinClass
	}
	return 1 << bits.Len(uint(n-1))
}

// PoisonByte is what Put writes over a slice's whole capacity in race-
// detector builds, so that a use after Put reads garbage in tests (I3).
const PoisonByte = 0xdd

// fill sets every byte of b to v by doubling copies: a few memmoves,
// which the race detector checks as ranges rather than byte by byte.
func fill(b []byte, v byte) {
	if len(b) == 0 {
		return
	}
	b[0] = v
	for i := 1; i < len(b); i *= 2 {
		copy(b[i:], b[:i])
	}
}
