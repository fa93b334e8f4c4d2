package client

import (
	"context"
	"net"
	"testing"

	"github.com/qstate/qstate/bufpool"
	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/internal/qstatetest"
	"github.com/qstate/qstate/state"
)

// benchContent is what the benchmark server answers: a Long value.
var benchContent = []byte{0, 0, 0, 0, 0, 0, 0, 42}

// startBenchServer starts an in-process server that answers every request
// with benchContent, decoding and encoding in place: it allocates nothing
// per request, so allocations measured are the client's.
func startBenchServer(tb testing.TB) string {
	tb.Helper()
	return qstatetest.NewServer(tb, func(_ int, c *qstatetest.Conn) { benchServe(c.Conn) }).Addr()
}

func benchServe(nc net.Conn) {
	defer nc.Close()
	in := make([]byte, 256<<10)
	out := make([]byte, 0, 256<<10)
	start, end := 0, 0
	for {
		n, err := nc.Read(in[end:])
		if err != nil {
			return
		}
		end += n
		out = out[:0]
		for {
			f, fn, err := codec.DecodeFrame(in[start:end], 0)
			if err != nil {
				return
			}
			if fn == 0 {
				break
			}
			out = codec.AppendResultFrame(out, f.RequestID, benchContent)
			start += fn
		}
		if len(out) > 0 {
			if _, err := nc.Write(out); err != nil {
				return
			}
		}
		end = copy(in, in[start:end])
		start = 0
	}
}

var benchKV = []byte{0, 0, 0, 7, 0x2a, 0}

// BenchmarkGetKvState: pipelined round trips, many goroutines sharing one
// connection.
func BenchmarkGetKvState(b *testing.B) {
	addr := startBenchServer(b)
	c := newClient(b, Config{})
	ctx := context.Background()
	if _, err := c.GetKvState(ctx, addr, testJob, "state", 7, benchKV); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			content, err := c.GetKvState(ctx, addr, testJob, "state", 7, benchKV)
			if err != nil || len(content) != len(benchContent) {
				b.Errorf("%x, %v", content, err)
				return
			}
			bufpool.Put(content)
		}
	})
}

// BenchmarkGetKvStateSerial: one request at a time (latency bound).
func BenchmarkGetKvStateSerial(b *testing.B) {
	addr := startBenchServer(b)
	c := newClient(b, Config{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		content, err := c.GetKvState(ctx, addr, testJob, "state", 7, benchKV)
		if err != nil {
			b.Fatal(err)
		}
		bufpool.Put(content)
	}
}

// BenchmarkGetValue: typed look-ups (String key, Long value), pipelined.
func BenchmarkGetValue(b *testing.B) {
	addr := startBenchServer(b)
	c := newClient(b, Config{})
	ctx := context.Background()
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			v, err := GetValue(ctx, c, addr, testJob, "state", state.String, "hello", state.Long)
			if err != nil || v != 42 {
				b.Errorf("%d, %v", v, err)
				return
			}
		}
	})
}
