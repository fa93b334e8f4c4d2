//go:build !race

package pebblestate

import (
	"testing"

	"github.com/qstate/qstate/state"
)

// TestAppendGetDoesNotAllocate: a value look-up with a reused buffer
// allocates nothing in steady state (P2), String keys included.
func TestAppendGetDoesNotAllocate(t *testing.T) {
	d, _ := openTemp(t, Options{})
	vs, err := NewValueState(d, "v", state.String, state.Void, state.Long)
	must(t, err)
	must(t, vs.Void().Update("kéy", 42))
	must(t, d.Flush())
	q := kn(state.String, "kéy", state.Void, state.VoidNamespace{})
	buf := make([]byte, 0, 64)
	run := func() {
		out, found, err := vs.AppendGet(buf[:0], q)
		if err != nil || !found || len(out) != 8 {
			t.Fatalf("AppendGet = %x, %v, %v", out, found, err)
		}
	}
	for range 100 {
		run()
	}
	if a := testing.AllocsPerRun(1000, run); a != 0 {
		t.Fatalf("%v allocations per look-up", a)
	}
}
