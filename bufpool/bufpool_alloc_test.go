//go:build !race

package bufpool_test

import (
	"testing"

	"github.com/qstate/qstate/bufpool"
)

// TestGetPutAllocs: in steady state Get and Put allocate nothing (I2), in
// every class, for slices from Get and for foreign ones of a class's size.
func TestGetPutAllocs(t *testing.T) {
	for _, n := range []int{0, 64, 100, 1024, 8 << 10, 64 << 10, 1 << 20, 16<<20 + 4} {
		if a := testing.AllocsPerRun(200, func() { bufpool.Put(bufpool.Get(n)) }); a != 0 {
			t.Errorf("Get(%d)+Put: %v allocs per run, want 0", n, a)
		}
	}
	if a := testing.AllocsPerRun(200, func() {
		b := append(bufpool.Get(30), "a KvStateResponse frame"...)
		bufpool.Put(b)
	}); a != 0 {
		t.Errorf("Get+append+Put: %v allocs per run, want 0", a)
	}
}
