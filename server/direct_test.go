package server

import (
	"bytes"
	"testing"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/internal/qstatetest"
)

// heldHandler keeps every batch until the test answers it (off the loop,
// like a pool worker that finishes later).
type heldHandler struct {
	echo  echoHandler
	calls []heldCall
}

type heldCall struct {
	reqs []byte
	n    int
	done func([]byte)
}

func (h *heldHandler) ServeBatch(reqs []byte, n int, done func([]byte)) {
	h.calls = append(h.calls, heldCall{reqs, n, done})
}

// answer answers the i-th batch received (echo answers).
func (h *heldHandler) answer(i int) {
	c := h.calls[i]
	c.done(h.echo.answer(c.reqs, c.n))
}

// framesFrom returns k REQUEST frames with ids from, from+1, ...
func framesFrom(from, k int) []byte {
	var b []byte
	for i := range k {
		id := int64(from + i)
		b = append(b, requestFrame(id, []byte{'b', byte(id), 'x'})...)
	}
	return b
}

// checkAnswers decodes out: exactly the answers to ids 0..n-1, in order.
func checkAnswers(t *testing.T, out []byte, n int) {
	t.Helper()
	for i := range n {
		f, k, err := codec.DecodeFrame(out, 0)
		if err != nil || k == 0 || f.Type != codec.RequestResult || f.RequestID != int64(i) {
			t.Fatalf("answer %d: %+v k=%d err=%v (rest %x)", i, f, k, err, out)
		}
		got, err := codec.DecodeKvStateResponse(f.Body)
		if want := []byte{'b', byte(i), 'x'}; err != nil || !bytes.Equal(got, want) {
			t.Fatalf("answer %d: content %q, want %q", i, got, want)
		}
		out = out[k:]
	}
	if len(out) != 0 {
		t.Fatalf("%d bytes after %d answers", len(out), n)
	}
}

func (cs *conn) directOn() bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.direct
}

// TestDirectWrite: while nothing of the connection waits to be written, a
// batch answered off the loop is written by its worker, without a wake;
// the loop counts it off at its next look (I9).
func TestDirectWrite(t *testing.T) {
	h := &heldHandler{}
	s, fc, cs := fakeServe(t, Config{}, h, true)
	fc.feed(framesFrom(0, 3))
	cs.serve()
	if cs.inflight != 3 || !cs.directOn() {
		t.Fatalf("inflight %d, direct %v after dispatch", cs.inflight, cs.directOn())
	}
	h.answer(0)
	if fc.raw != 1 || len(fc.wakes) != 0 {
		t.Fatalf("%d direct writes, %d wakes: want the worker's write and no wake", fc.raw, len(fc.wakes))
	}
	checkAnswers(t, fc.out, 3)
	if s.Stats().InFlight != 0 {
		t.Fatal("batch not released by the direct write")
	}
	cs.settle()
	if cs.inflight != 0 || cs.guard.finished != 1 {
		t.Fatalf("after settle: inflight %d, finished %d", cs.inflight, cs.guard.finished)
	}
}

// TestDirectWritePartial: what a direct write leaves (a partial write, or
// EAGAIN) goes to the loop, before any later answer, and direct writes
// stay off until the loop has written it all (I9).
func TestDirectWritePartial(t *testing.T) {
	for _, lim := range []int{-1, 1, 7, 40} {
		h := &heldHandler{}
		s := newTestServer(t, Config{}, h)
		fc := newFakeConn()
		fc.keep = true
		fc.rawMax = lim
		cs := newConn(s, fc)
		fc.feed(framesFrom(0, 3))
		cs.serve()
		fc.feed(framesFrom(3, 2))
		cs.serve()
		h.answer(0) // partial: direct writes turn off, a wake is queued
		h.answer(1) // behind it, for the loop
		if fc.raw != 1 || len(fc.wakes) != 1 || cs.directOn() {
			t.Fatalf("rawMax %d: %d direct writes, %d wakes, direct %v", lim, fc.raw, len(fc.wakes), cs.directOn())
		}
		if want := max(lim, 0); len(fc.out) != want {
			t.Fatalf("rawMax %d: direct write took %d bytes", lim, len(fc.out))
		}
		qstatetest.Recv(t, fc.wakes, qstatetest.Timeout, "a wake of the loop")
		cs.serve()
		checkAnswers(t, fc.out, 5)
		if cs.inflight != 0 || len(cs.queue) != 0 || !cs.directOn() {
			t.Fatalf("rawMax %d: inflight %d, queued %d, direct %v after the loop wrote", lim, cs.inflight, len(cs.queue), cs.directOn())
		}
		// Direct writes are back on.
		fc.rawMax = 0
		fc.feed(framesFrom(5, 1))
		cs.serve()
		h.answer(2)
		if fc.raw != 2 {
			t.Fatalf("rawMax %d: %d direct writes, want 2", lim, fc.raw)
		}
		checkAnswers(t, fc.out, 6)
	}
}

// TestDirectWriteWaitsForGnet: while gnet holds bytes of the connection,
// workers do not write (theirs would overtake them): the loop does.
func TestDirectWriteWaitsForGnet(t *testing.T) {
	h := &heldHandler{}
	_, fc, cs := fakeServe(t, Config{}, h, true)
	cs.own() // as after a write of the loop's own
	fc.outbound = 100
	fc.feed(framesFrom(0, 2))
	cs.serve()
	if cs.directOn() {
		t.Fatal("direct writes on while gnet's outbound buffer holds bytes")
	}
	h.answer(0)
	if fc.raw != 0 || len(fc.wakes) != 1 {
		t.Fatalf("%d direct writes, %d wakes: want the loop woken instead", fc.raw, len(fc.wakes))
	}
	fc.outbound = 0
	qstatetest.Recv(t, fc.wakes, qstatetest.Timeout, "a wake of the loop")
	cs.serve()
	checkAnswers(t, fc.out, 2)
	if !cs.directOn() {
		t.Fatal("direct writes still off once gnet's buffer drained")
	}
}

// TestDirectWriteAfterClose: a batch answered after OnClose is released
// without touching the socket (its descriptor may belong to another
// connection by then).
func TestDirectWriteAfterClose(t *testing.T) {
	h := &heldHandler{}
	s, fc, cs := fakeServe(t, Config{}, h, false)
	fc.feed(framesFrom(0, 2))
	cs.serve()
	cs.release() // OnClose
	h.answer(0)
	if fc.raw != 0 || fc.written != 0 || len(fc.wakes) != 0 {
		t.Fatalf("%d direct writes, %d bytes, %d wakes after close", fc.raw, fc.written, len(fc.wakes))
	}
	if s.Stats().InFlight != 0 {
		t.Fatal("batch not released")
	}
}

// TestDirectWriteInFlightBudget: a connection out of in-flight budget with
// frames buffered turns direct writes off, so that the completion that
// frees budget wakes the loop to dispatch the rest (I1).
func TestDirectWriteInFlightBudget(t *testing.T) {
	h := &heldHandler{}
	_, fc, cs := fakeServe(t, Config{MaxInFlight: 4}, h, true)
	fc.feed(framesFrom(0, 6))
	cs.serve()
	if len(h.calls) != 1 || h.calls[0].n != 4 || cs.directOn() {
		t.Fatalf("%d batches, direct %v: want one of 4 and direct writes off", len(h.calls), cs.directOn())
	}
	h.answer(0)
	if fc.raw != 0 || len(fc.wakes) != 1 {
		t.Fatalf("%d direct writes, %d wakes: want a wake", fc.raw, len(fc.wakes))
	}
	qstatetest.Recv(t, fc.wakes, qstatetest.Timeout, "a wake of the loop")
	cs.serve()
	if len(h.calls) != 2 || h.calls[1].n != 2 {
		t.Fatalf("%d batches: the last 2 frames not dispatched", len(h.calls))
	}
	if !cs.directOn() {
		t.Fatal("direct writes still off with budget left")
	}
	h.answer(1)
	if fc.raw != 1 {
		t.Fatalf("%d direct writes, want 1", fc.raw)
	}
	checkAnswers(t, fc.out, 6)
}

// TestLargeAnswerWrittenWhole: an answer over HighWatermark goes to the
// kernel in one direct write while gnet holds nothing; what the kernel
// leaves goes through gnet a chunk at a time, in order, and gnet never
// holds more than a chunk (I5, I9).
func TestLargeAnswerWrittenWhole(t *testing.T) {
	const size = 100 << 10
	check := func(t *testing.T, fc *fakeConn, raw, gnetWrites int) {
		t.Helper()
		f, k, err := codec.DecodeFrame(fc.out, 0)
		if err != nil || k != len(fc.out) || f.RequestID != 7 {
			t.Fatalf("answer %+v, %d of %d bytes, err %v", f, k, len(fc.out), err)
		}
		if got, _ := codec.DecodeKvStateResponse(f.Body); !bytes.Equal(got, pattern(size)) {
			t.Fatal("answer corrupted")
		}
		if fc.raw != raw || fc.writes != gnetWrites {
			t.Fatalf("%d direct writes and %d through gnet, want %d and %d", fc.raw, fc.writes, raw, gnetWrites)
		}
	}
	setup := func() (*conn, *fakeConn) {
		_, fc, cs := fakeServe(t, Config{}, &echoHandler{inline: true}, true)
		fc.feed(requestFrame(7, sizedBody(size)))
		return cs, fc
	}
	t.Run("kernel takes all", func(t *testing.T) {
		cs, fc := setup()
		cs.serve()
		check(t, fc, 1, 0)
	})
	t.Run("kernel takes half", func(t *testing.T) {
		cs, fc := setup()
		fc.rawMax, fc.rawOnce = 50_000, true // then EAGAIN
		cs.serve()
		check(t, fc, 2, 2) // 50,000 bytes, EAGAIN, then a chunk and the last 19,656 bytes through gnet
	})
	t.Run("kernel full", func(t *testing.T) {
		cs, fc := setup()
		fc.rawMax, fc.full = -1, true
		cs.serve() // EAGAIN, then one chunk into gnet's buffer: held back
		if fc.outbound != DefaultHighWatermark || !cs.blocked || fc.raw != 1 || fc.writes != 1 {
			t.Fatalf("outbound %d, blocked %v, %d direct writes, %d through gnet", fc.outbound, cs.blocked, fc.raw, fc.writes)
		}
		fc.outbound, fc.rawMax, fc.full = 0, 0, false // gnet drained it; the kernel has room again
		cs.serve()
		check(t, fc, 2, 1)
	})
}
