//go:build !race

package client

import (
	"context"
	"testing"

	"github.com/qstate/qstate/bufpool"
	"github.com/qstate/qstate/state"
)

// TestRoundTripAllocs: a round trip whose content the caller returns to
// bufpool allocates nothing in steady state (request encoding, in flight
// map, call recycling, response decoding).
func TestRoundTripAllocs(t *testing.T) {
	addr := startBenchServer(t)
	c := newClient(t, Config{})
	ctx := context.Background()
	run := func() {
		content, err := c.GetKvState(ctx, addr, testJob, "state", 7, benchKV)
		if err != nil {
			t.Fatal(err)
		}
		bufpool.Put(content)
	}
	for range 1000 { // warm up: pools, map buckets, buffers
		run()
	}
	if n := testing.AllocsPerRun(2000, run); n > 0 {
		t.Errorf("%v allocations per round trip, want 0", n)
	}
}

// TestGetValueAllocs: a typed look-up of a fixed-size value allocates
// nothing in steady state (key serialized into and content returned to
// bufpool).
func TestGetValueAllocs(t *testing.T) {
	addr := startBenchServer(t)
	c := newClient(t, Config{})
	ctx := context.Background()
	run := func() {
		if v, err := GetValue(ctx, c, addr, testJob, "state", state.String, "hello", state.Long); err != nil || v != 42 {
			t.Fatal(v, err)
		}
	}
	for range 1000 {
		run()
	}
	if n := testing.AllocsPerRun(2000, run); n > 0 {
		t.Errorf("%v allocations per look-up, want 0", n)
	}
}
