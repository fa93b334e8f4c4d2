package bench

import (
	"context"
	"testing"
	"time"
)

// BenchmarkLoop is the harness's own cost per request: one connection's
// closed loop against an in-memory responder (no network, no server).
func BenchmarkLoop(b *testing.B) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"flink/p16/8B", Config{Pipeline: 16, Keys: 100_000, ValueSize: 8, Verify: true}},
		{"flink/p128/1KiB", Config{Pipeline: 128, Keys: 100_000, ValueSize: 1024, Verify: true}},
		{"resp/p16/8B", Config{Protocol: RESP, Pipeline: 16, Keys: 100_000, ValueSize: 8, Verify: true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := tc.cfg.withDefaults()
			w, respSize, err := newWire(cfg)
			if err != nil {
				b.Fatal(err)
			}
			run := newRunState(int64(b.N))
			run.phase.Store(int32(PhaseMeasure))
			c := newConn(newMemConn(cfg), w, run, newKeyGen(newKeyDist(cfg.Keys, cfg.Dist, cfg.ZipfS), 1, 1), cfg, respSize)
			b.ReportAllocs()
			b.ResetTimer()
			c.loop()
			if c.ok != int64(b.N) {
				b.Fatalf("ok %d of %d: %v", c.ok, b.N, c.err)
			}
		})
	}
}

// BenchmarkRunTCP is a whole run (4x16) against the in-process fake server
// over loopback: harness and fake share the CPU.
func BenchmarkRunTCP(b *testing.B) {
	f := newFakeFlink(b, 100_000, 8)
	cfg := Config{Addr: f.start(b), Conns: 4, Pipeline: 16, Keys: 100_000, Requests: int64(b.N), ProgressInterval: time.Hour}
	b.ReportAllocs()
	b.ResetTimer()
	rep, err := Run(context.Background(), cfg)
	if err != nil || rep.OK != int64(b.N) {
		b.Fatalf("ok %v: %v", rep, err)
	}
}
