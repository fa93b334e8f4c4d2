package server

import (
	"testing"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/handler"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/state"
)

// pathFixture is the whole in-process request path: a conn on a fake
// gnet.Conn, this package's decode/dispatch/write, and package handler
// answering from the synthetic dataset (1000 keys, 8-byte values).
type pathFixture struct {
	cs     *conn
	fc     *fakeConn
	frames []byte
	inline bool
}

func newPathFixture(t testing.TB, d handler.Dispatch, depth int) *pathFixture {
	t.Helper()
	reg := registry.New()
	if err := dataset.RegisterSynthetic(reg, 1000, 8); err != nil {
		t.Fatal(err)
	}
	h, err := handler.New(handler.Config{Registry: reg, Dispatch: d})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(t.Context()) })
	s := newTestServer(t, Config{}, h.Proxy())
	fc := newFakeConn()
	job, _ := registry.ParseJobID(dataset.SyntheticJobID)
	var frames []byte
	for i := range depth {
		k := int32(i * 61 % 1000)
		frames = codec.AppendKvStateRequestFrame(frames, int64(i), codec.KvStateRequest{
			JobID: job, StateName: []byte(dataset.SyntheticState), KeyHash: k,
			KeyAndNamespace: state.AppendKeyAndNamespace(nil, state.Int, k, state.Void, state.VoidNamespace{}),
		})
	}
	return &pathFixture{cs: newConn(s, fc), fc: fc, frames: frames, inline: d == handler.Inline}
}

func (p *pathFixture) roundTrip() { roundTrip(p.cs, p.fc, p.frames, p.inline) }

// TestRequestPath checks the fixture answers every request with a value.
func TestRequestPath(t *testing.T) {
	for _, d := range []handler.Dispatch{handler.Inline, handler.Pool} {
		p := newPathFixture(t, d, 16)
		p.fc.keep = true
		p.roundTrip()
		n := 0
		for b := p.fc.out; len(b) > 0; n++ {
			f, k, err := codec.DecodeFrame(b, 0)
			if err != nil || f.Type != codec.RequestResult {
				t.Fatalf("%v: answer %d: %v %v", d, n, f.Type, err)
			}
			b = b[k:]
		}
		if n != 16 {
			t.Fatalf("%v: %d answers", d, n)
		}
	}
}

// BenchmarkRequestPath is the whole in-process request path per request
// (16-deep pipeline on one connection): decode, batch copy, dispatch
// (inline, or through the ants pool and back with a wake), look-up in the
// heap state, encode, write.
func BenchmarkRequestPath(b *testing.B) {
	for _, d := range []handler.Dispatch{handler.Inline, handler.Pool} {
		b.Run(d.String(), func(b *testing.B) {
			p := newPathFixture(b, d, 16)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += 16 {
				p.roundTrip()
			}
		})
	}
}
