//go:build !race

package server

import (
	"testing"

	"github.com/qstate/qstate/handler"
)

// TestServeAllocs: a steady-state round trip of 16 pipelined requests
// (decode, batch copy, dispatch, answer, write) allocates nothing in the
// server, inline and with a worker goroutine (I8).
func TestServeAllocs(t *testing.T) {
	for _, inline := range []bool{true, false} {
		h := echoOrWorker(t, inline)
		_, fc, cs := fakeServe(t, Config{}, h, false)
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

// TestRequestPathAllocs: the whole in-process request path (server and
// handler, pool handoff included, gnet replaced by a fake) allocates
// nothing per round trip of 16 requests in steady state (I8).
func TestRequestPathAllocs(t *testing.T) {
	for _, d := range []handler.Dispatch{handler.Inline, handler.Pool} {
		p := newPathFixture(t, d, 16)
		for range 100 {
			p.roundTrip()
		}
		if allocs := testing.AllocsPerRun(1000, p.roundTrip); allocs != 0 {
			t.Errorf("%v: %v allocations per round trip of 16 requests, want 0", d, allocs)
		}
	}
}
