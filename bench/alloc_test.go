//go:build !race

package bench

import (
	"runtime"
	"testing"
	"time"

	"github.com/qstate/qstate/dataset"
)

// allocsPerRequest runs one connection's loop for n and for 10n requests
// against an in-memory responder and returns the extra allocations per
// extra request: the per-request cost, setup excluded.
func allocsPerRequest(t *testing.T, cfg Config, n int64) float64 {
	t.Helper()
	cfg = cfg.withDefaults()
	w, respSize, err := newWire(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dist := newKeyDist(cfg.Keys, cfg.Dist, cfg.ZipfS)
	run1 := func(n int64) float64 {
		return testing.AllocsPerRun(3, func() {
			run := newRunState(n)
			run.phase.Store(int32(PhaseMeasure))
			mc := newMemConn(cfg)
			c := newConn(mc, w, run, newKeyGen(dist, 1, 1), cfg, respSize)
			c.loop()
			if c.err != nil || c.ok != n {
				t.Fatalf("loop: ok %d of %d, err %v", c.ok, n, c.err)
			}
		})
	}
	run1(n) // warm the code paths
	small, large := run1(n), run1(10*n)
	return (large - small) / float64(9*n)
}

// TestLoopAllocs proves I3: the closed loop (key draw, request append, id
// patch, write, read, parse, match, verify, record) allocates nothing per
// request, for both protocols.
func TestLoopAllocs(t *testing.T) {
	for _, cfg := range []Config{
		{Pipeline: 16, Keys: 1000, ValueSize: 8, Verify: true},
		{Pipeline: 128, Keys: 1000, ValueSize: 1024, Verify: true, Dist: Zipf},
		{Pipeline: 16, Keys: 1000, ValueSize: 8, Verify: true, Internal: true, KvStateID: dataset.SyntheticJobID},
		{Protocol: RESP, Pipeline: 16, Keys: 1000, ValueSize: 100, Verify: true},
	} {
		if per := allocsPerRequest(t, cfg, 5000); per > 0.001 {
			t.Errorf("%s pipeline %d value %d: %.4f allocations per request, want 0", cfg.Protocol, cfg.Pipeline, cfg.ValueSize, per)
		}
	}
}

// TestLoopAllocsOverTCP: the same against the in-process fake server over
// loopback TCP, counting every allocation in the process (harness, fake
// and runtime): still none per request.
func TestLoopAllocsOverTCP(t *testing.T) {
	f := newFakeFlink(t, 1000, 8)
	cfg := quick(f.start(t))
	cfg.Verify, cfg.ProgressInterval = true, time.Hour
	mallocs := func(n int64) uint64 {
		cfg.Requests = n
		runtime.GC()
		var a, b runtime.MemStats
		runtime.ReadMemStats(&a)
		rep := mustRun(t, cfg)
		runtime.ReadMemStats(&b)
		if rep.OK != n {
			t.Fatalf("ok %d of %d", rep.OK, n)
		}
		f.waitClosed(t, int64(cfg.Conns))
		return b.Mallocs - a.Mallocs
	}
	mallocs(2000)
	small, large := mallocs(2000), mallocs(40000)
	if per := (float64(large) - float64(small)) / 38000; per > 0.01 {
		t.Errorf("%.4f allocations per request (%d for 2000, %d for 40000)", per, small, large)
	}
}
