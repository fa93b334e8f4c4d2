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
		fc.rawMax = 0 // the kernel has room again
		cs.serve()
		checkAnswers(t, fc.out, 5)
		if cs.inflight != 0 || len(cs.queue) != 0 || !cs.directOn() || fc.raw != 2 {
			t.Fatalf("rawMax %d: inflight %d, queued %d, direct %v, %d writes after the loop wrote", lim, cs.inflight, len(cs.queue), cs.directOn(), fc.raw)
		}
		// Direct writes are back on.
		fc.feed(framesFrom(5, 1))
		cs.serve()
		h.answer(2)
		if fc.raw != 3 || len(fc.wakes) != 0 {
			t.Fatalf("rawMax %d: %d writes, %d wakes, want the worker's third write and no wake", lim, fc.raw, len(fc.wakes))
		}
		checkAnswers(t, fc.out, 6)
	}
}

// TestDirectWriteWaitsForQueue: while the connection's queue holds answer
// bytes the kernel did not take, workers do not write (theirs would
// overtake them): the loop does, once the socket takes more.
func TestDirectWriteWaitsForQueue(t *testing.T) {
	h := &heldHandler{}
	_, fc, cs := fakeServe(t, Config{}, h, true)
	fc.rawMax = -1 // the kernel takes nothing
	fc.feed(framesFrom(0, 1))
	cs.serve()
	h.answer(0) // the worker's write fails (EAGAIN): the answer goes to the loop's queue
	qstatetest.Recv(t, fc.wakes, qstatetest.Timeout, "a wake of the loop")
	fc.feed(framesFrom(1, 2))
	cs.serve() // the loop's write fails too: the answer stays queued
	if cs.directOn() || len(cs.queue) != 1 || fc.written != 0 {
		t.Fatalf("direct %v, %d queued, %d written: want direct writes off behind the queued answer", cs.directOn(), len(cs.queue), fc.written)
	}
	raw := fc.raw
	h.answer(1)
	if fc.raw != raw || len(fc.wakes) != 1 {
		t.Fatalf("%d writes by the worker, %d wakes: want the loop woken instead", fc.raw-raw, len(fc.wakes))
	}
	fc.rawMax = 0 // the socket takes everything again
	qstatetest.Recv(t, fc.wakes, qstatetest.Timeout, "a wake of the loop")
	cs.serve()
	checkAnswers(t, fc.out, 3)
	if !cs.directOn() {
		t.Fatal("direct writes still off once the queue is written")
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
	if fc.raw != 2 || len(fc.wakes) != 0 { // the loop's write of the first batch, the worker's of the second
		t.Fatalf("%d writes, %d wakes: want the worker's direct write and no wake", fc.raw, len(fc.wakes))
	}
	checkAnswers(t, fc.out, 6)
}

// TestLargeAnswerWrittenWhole: an answer over HighWatermark goes to the
// kernel in one write; what the kernel leaves stays queued, the connection
// under backpressure, and goes out in order once the socket takes more
// (I5, I9).
func TestLargeAnswerWrittenWhole(t *testing.T) {
	const size = 100 << 10
	check := func(t *testing.T, fc *fakeConn, raw int) {
		t.Helper()
		f, k, err := codec.DecodeFrame(fc.out, 0)
		if err != nil || k != len(fc.out) || f.RequestID != 7 {
			t.Fatalf("answer %+v, %d of %d bytes, err %v", f, k, len(fc.out), err)
		}
		if got, _ := codec.DecodeKvStateResponse(f.Body); !bytes.Equal(got, pattern(size)) {
			t.Fatal("answer corrupted")
		}
		if fc.raw != raw || fc.writes != 0 {
			t.Fatalf("%d writes of ours and %d through gnet, want %d and 0", fc.raw, fc.writes, raw)
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
		check(t, fc, 1)
	})
	t.Run("kernel takes half", func(t *testing.T) {
		cs, fc := setup()
		fc.rawMax = 50_000
		cs.serve() // 50,000 bytes: the kernel is full, the rest waits
		if fc.raw != 1 || fc.written != 50_000 || cs.queued != codec.ResultFrameSize(size)-50_000 || !cs.blocked {
			t.Fatalf("%d writes, %d written, %d queued, blocked %v", fc.raw, fc.written, cs.queued, cs.blocked)
		}
		fc.rawMax = 0
		cs.serve()
		check(t, fc, 2)
		if cs.blocked || cs.queued != 0 {
			t.Fatalf("blocked %v, %d queued after the rest was written", cs.blocked, cs.queued)
		}
	})
	t.Run("kernel full", func(t *testing.T) {
		cs, fc := setup()
		fc.rawMax = -1
		cs.serve() // EAGAIN: all of it waits, held back
		if fc.written != 0 || !cs.blocked || fc.raw != 1 || cs.queued != codec.ResultFrameSize(size) {
			t.Fatalf("%d written, blocked %v, %d writes, %d queued", fc.written, cs.blocked, fc.raw, cs.queued)
		}
		fc.rawMax = 0 // the kernel has room again
		cs.serve()
		check(t, fc, 2)
	})
}

// TestDirectWriteDeferredHandsOver: a worker that writes all its answers
// directly while its handler deferred some of the batch's requests hands
// the batch to the loop with direct writes off: nothing may be written
// behind the loop's back while it holds the batch, since the loop counts
// itself the only writer once it has taken a completion (I9). With direct
// writes left on, a later worker's partial write could be overtaken by the
// loop's own (1 MiB values under auto dispatch arrived cut).
func TestDirectWriteDeferredHandsOver(t *testing.T) {
	h := &heldParts{}
	_, fc, cs := fakeServe(t, Config{}, h, true)
	fc.feed(framesFrom(0, 3))
	cs.serve()
	c := h.calls[0]
	c.done(h.echo.answer(framesFrom(0, 1), 1), nil, 1, 100) // the worker answers one; two are deferred
	if fc.written == 0 || cs.directOn() {
		t.Fatalf("%d bytes written directly, direct %v: want the answer written and direct writes off", fc.written, cs.directOn())
	}
	qstatetest.Recv(t, fc.wakes, qstatetest.Timeout, "a wake of the loop")
	cs.serve() // takes the batch, dispatches the deferred requests again
	if len(h.calls) != 2 || h.calls[1].n != 2 {
		t.Fatalf("%d dispatches, want the deferred two again", len(h.calls))
	}
	fc.rawMax = 7 // the next worker's write is cut: the loop writes the rest
	h.answer(1)
	qstatetest.Recv(t, fc.wakes, qstatetest.Timeout, "a wake of the loop")
	fc.rawMax = 0
	cs.serve()
	checkAnswers(t, fc.out, 3)
}
