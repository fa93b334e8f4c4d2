package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/qstate/qstate/bufpool"
	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/server"
)

// startGnetServer runs qstate's real network front end (server, gnet) on
// 127.0.0.1:0 with a handler, until the test ends.
func startGnetServer(t *testing.T, h server.Handler) (*server.Server, string) {
	t.Helper()
	srv, err := server.New(server.Config{}, h)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	select {
	case <-srv.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("server not ready after 10 s")
	}
	if srv.Addr() == nil {
		t.Fatalf("server did not listen: %v", <-served)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return srv, srv.Addr().String()
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
	srv, addr := startGnetServer(t, syntheticHandler(t, 1000, 8))
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
	deadline := time.Now().Add(5 * time.Second)
	for srv.Stats().Conns != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // polling a counter: the server has no event for it
	}
	if n := srv.Stats().Conns; n != 0 {
		t.Errorf("%d connections still open after the run", n)
	}
}
