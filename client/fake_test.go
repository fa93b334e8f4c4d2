package client

import (
	"bytes"
	"context"
	"encoding/binary"
	"sync"
	"testing"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/internal/qstatetest"
)

// kvOf returns the key and namespace of a REQUEST body of either kind: a
// KvStateRequest when internal is false.
func kvOf(f codec.Frame, internal bool) []byte {
	if internal {
		r, err := codec.DecodeKvStateInternalRequest(f.Body)
		if err != nil {
			return nil
		}
		return r.KeyAndNamespace
	}
	r, err := codec.DecodeKvStateRequest(f.Body)
	if err != nil {
		return nil
	}
	return r.KeyAndNamespace
}

// answerOf is the content the echo servers answer a key with: the key
// bytes reversed, followed by the request id, so that an answer delivered
// to the wrong caller shows.
func answerOf(kv []byte, rid int64) []byte {
	out := make([]byte, 0, len(kv)+8)
	for i := len(kv) - 1; i >= 0; i-- {
		out = append(out, kv[i])
	}
	return binary.BigEndian.AppendUint64(out, uint64(rid))
}

// expectedAnswer is answerOf without the request id, which the caller does
// not know: callers check the prefix and the length.
func expectedAnswer(kv []byte) []byte {
	out := make([]byte, 0, len(kv))
	for i := len(kv) - 1; i >= 0; i-- {
		out = append(out, kv[i])
	}
	return out
}

// checkAnswer reports whether content answers kv.
func checkAnswer(content, kv []byte) bool {
	want := expectedAnswer(kv)
	return len(content) == len(want)+8 && string(content[:len(want)]) == string(want)
}

// echo answers every request in order with answerOf until the connection ends.
func echo(sc *qstatetest.Conn) {
	_ = sc.Answer(func(f codec.Frame) []byte {
		return codec.AppendResultFrame(nil, f.RequestID, answerOf(kvOf(f, false), f.RequestID))
	})
}

// failurePayload returns the Java serialization of e.
func failurePayload(e *codec.JavaException) []byte { return codec.MustAppendThrowable(nil, e) }

// newClient returns a client with cfg that the test closes in Cleanup.
func newClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// kvFor builds a distinct key-and-namespace for caller g, request i: a
// Flink string key, magic byte, VoidNamespace.
func kvFor(g, i int) []byte {
	key := []byte{byte(g), byte(g >> 8), byte(i), byte(i >> 8)}
	kv := append([]byte{byte(len(key) + 1)}, key...)
	return append(kv, 0x2a, 0x00)
}

// withRequestID returns a copy of a whole frame (prefix included) of a type
// that has a request id, with the id replaced.
func withRequestID(frame []byte, rid int64) []byte {
	out := bytes.Clone(frame)
	binary.BigEndian.PutUint64(out[codec.LengthLen+codec.HeaderLen:], uint64(rid))
	return out
}

// newBreakOnceServer starts a server whose first connection reads n
// requests, then breaks (send writes what breaks it; the server then reads
// on until the client closes); later connections echo.
func newBreakOnceServer(t testing.TB, n int, send func(sc *qstatetest.Conn, fs []codec.Frame)) *qstatetest.Server {
	return qstatetest.NewServer(t, func(conn int, sc *qstatetest.Conn) {
		if conn > 0 {
			echo(sc)
			return
		}
		fs, err := sc.ReadRequests(n)
		if err != nil {
			return
		}
		send(sc, fs)
		sc.Drain()
	})
}

// outcome is the outcome of one GetKvState call for kv.
type outcome struct {
	kv, content []byte
	err         error
}

// getAll calls GetKvState for the keys kvFor(g, 0..n-1) at once and
// returns the outcomes, in key order.
func getAll(ctx context.Context, c *Client, addr string, g, n int) []outcome {
	calls := make([]outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			kv := kvFor(g, i)
			content, err := c.GetKvState(ctx, addr, testJob, "state", 0, kv)
			calls[i] = outcome{kv, content, err}
		})
	}
	wg.Wait()
	return calls
}

// checkRecovered checks that a call for kv after a broken connection is
// answered, on the server's second connection.
func checkRecovered(ctx context.Context, t testing.TB, c *Client, srv *qstatetest.Server, kv []byte) {
	t.Helper()
	content, err := c.GetKvState(ctx, srv.Addr(), testJob, "state", 0, kv)
	if err != nil || !checkAnswer(content, kv) {
		t.Fatalf("call after the break: %x, %v", content, err)
	}
	if got := srv.Accepted(); got != 2 {
		t.Errorf("server accepted %d connections, want 2", got)
	}
}
