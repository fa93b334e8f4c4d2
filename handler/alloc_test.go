//go:build !race

package handler

import (
	"bytes"
	"testing"
)

// TestServeBatchAllocs: answering a batch of 16 requests, values and a
// missing key, allocates nothing in steady state, inline and through the
// pool (the handoff to a worker included).
func TestServeBatchAllocs(t *testing.T) {
	for _, d := range []Dispatch{Inline, Pool} {
		h, _ := newHandler(t, Config{Dispatch: d})
		var frames [][]byte
		for i := range 15 {
			frames = append(frames, proxyFrame(int64(i), int32(i*7)))
		}
		frames = append(frames, proxyFrame(15, 5000)) // missing: the cached failure
		checkBatchAllocs(t, h.Proxy(), frames, d)
	}
}

// TestAppenderAllocs: answering from a state that copies its answers
// (state.Appender, a store on disk) allocates nothing in steady state: the
// copies go into the task's reused scratch buffer, inline (a state that
// does not block) and through the pool.
func TestAppenderAllocs(t *testing.T) {
	for _, d := range []Dispatch{Inline, Pool} {
		ds := &diskState{blocks: d == Pool}
		h, _ := newHandler(t, Config{Registry: registryWithDisk(t, ds), Dispatch: d})
		var frames [][]byte
		for i := range 16 {
			frames = append(frames, diskFrame(int64(i), int32(i*3)))
		}
		checkBatchAllocs(t, h.Proxy(), frames, d)
	}
}

// checkBatchAllocs fails t if answering frames through ep, as one batch,
// allocates in steady state (after 100 batches).
func checkBatchAllocs(t *testing.T, ep *Endpoint, frames [][]byte, d Dispatch) {
	t.Helper()
	reqs := bytes.Join(frames, nil)
	answered := make(chan []byte, 1)
	done := func(out []byte) { answered <- out }
	run := func() {
		ep.ServeBatch(reqs, len(frames), done)
		putBuf(<-answered)
	}
	for range 100 {
		run()
	}
	if allocs := testing.AllocsPerRun(1000, run); allocs != 0 {
		t.Errorf("%v: %v allocations per batch of %d, want 0", d, allocs, len(frames))
	}
}
