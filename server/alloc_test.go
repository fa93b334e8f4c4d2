//go:build !race

package server

import "testing"

// TestServeAllocs: a steady-state round trip of 16 pipelined requests
// (decode, batch copy, dispatch, answer, write) allocates nothing in the
// server, inline and with a worker goroutine (I8).
func TestServeAllocs(t *testing.T) {
	for _, inline := range []bool{true, false} {
		var h Handler = &echoHandler{inline: true}
		if !inline {
			w := newWorkerHandler()
			t.Cleanup(w.stop)
			h = w
		}
		s := newTestServer(t, Config{}, h)
		fc := newFakeConn()
		cs := newConn(s, fc)
		frames := pipelineFrames(16)
		for range 100 { // warm the pools
			roundTrip(cs, fc, frames, inline)
		}
		allocs := testing.AllocsPerRun(1000, func() { roundTrip(cs, fc, frames, inline) })
		if allocs != 0 {
			t.Errorf("inline=%v: %v allocations per round trip of 16 requests, want 0", inline, allocs)
		}
	}
}
