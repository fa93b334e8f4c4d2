package bench

import (
	"encoding/binary"
	"testing"

	"github.com/qstate/qstate/bufpool"
	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/internal/servertest"
	"github.com/qstate/qstate/server"
)

// startGnetServer runs qstate's real network front end (server, gnet) on
// 127.0.0.1:0 with a handler, until the test ends, recording its
// connections' states.
func startGnetServer(t *testing.T, h server.Handler) (*server.Server, *servertest.Conns, string) {
	t.Helper()
	conns := &servertest.Conns{}
	srv, _ := servertest.Start(t, conns.Watch(server.Config{}), h)
	return srv, conns, srv.Addr().String()
}

// syntheticHandler answers a batch of KvStateRequests from the synthetic
// dataset (keys 0..keys-1, values of size bytes) inline, with the golden
// UnknownKeyOrNamespaceException for any other key.
func syntheticHandler(t *testing.T, keys, size int) server.HandlerFunc {
	miss := goldenFailurePayload(t, "rid=1/UnknownKeyOrNamespaceException/empty")
	job, _ := parseID(dataset.SyntheticJobID)
	return func(reqs []byte, n int, done func(out []byte)) {
		out := bufpool.Get(n * codec.ResultFrameSize(4+size))[:0]
		var val [4 + 64<<10]byte
		for b := reqs; len(b) > 0; {
			f, used, err := codec.DecodeFrame(b, 0)
			if err != nil || used == 0 {
				break
			}
			b = b[used:]
			r, err := codec.DecodeKvStateRequest(f.Body)
			key := -1
			if err == nil && r.JobID == job && string(r.StateName) == dataset.SyntheticState && len(r.KeyAndNamespace) == 6 {
				key = int(int32(binary.BigEndian.Uint32(r.KeyAndNamespace)))
			}
			if key < 0 || key >= keys {
				out = codec.AppendRequestFailureFrame(out, f.RequestID, miss)
				continue
			}
			v := binary.BigEndian.AppendUint32(val[:0], uint32(size))
			v = dataset.SyntheticValue(v, key, size)
			out = codec.AppendResultFrame(out, f.RequestID, v)
		}
		done(out)
	}
}

// TestGnetServer drives qstate's real gnet front end (with an in-test
// synthetic handler): exact counts, verified values, missing keys by
// class, and every connection closed at the end.
func TestGnetServer(t *testing.T) {
	srv, conns, addr := startGnetServer(t, syntheticHandler(t, 1000, 8))
	cfg := quick(addr)
	cfg.Keys, cfg.Requests, cfg.Verify = 1200, 20000, true
	rep := mustRun(t, cfg)
	if rep.Completed != 20000 || rep.Sent != 20000 {
		t.Errorf("I1: sent %d completed %d", rep.Sent, rep.Completed)
	}
	misses := rep.ErrClass(KindRequestFailure, classUnknownKey)
	if misses == 0 || rep.OK+misses != 20000 || rep.ErrorTotal != misses {
		t.Errorf("ok %d, errors %v", rep.OK, rep.Errors)
	}
	checkI2(t, rep)
	if got := srv.Stats().Requests; got != 20000 {
		t.Errorf("server dispatched %d requests, want 20000", got)
	}
	conns.WaitClosed(t)
	if n := srv.Stats().Conns; n != 0 {
		t.Errorf("%d connections still open after the run", n)
	}
}
