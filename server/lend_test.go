package server

import (
	"bytes"
	"testing"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/internal/qstatetest"
)

// TestLentAnswersQueued: the answers of a PartHandler that lends large
// values are written in order, byte for byte the ones it would have
// copied, through every way the loop writes (whole, gathered, the rest
// after a partial write); the lent bytes are not counted as the
// connection's memory (account), and its own buffer goes back once
// written.
func TestLentAnswersQueued(t *testing.T) {
	var frames []byte
	for i, size := range []int{10, 100_000, 20, 50_000, 3_000, 70_000} {
		frames = append(frames, requestFrame(int64(i), sizedBody(size))...)
	}
	copied := (&echoHandler{}).answer(frames, 6)
	for _, c := range []struct {
		name   string
		rawMax int // what the kernel takes of a write (0: all)
	}{{"kernel takes all", 0}, {"kernel takes part", 30_000}} {
		t.Run(c.name, func(t *testing.T) {
			h := &echoHandler{inline: true, lend: 1000}
			s, fc, cs := fakeServe(t, Config{}, h, true)
			fc.rawMax = -1 // the kernel takes nothing at first (EAGAIN): the loop holds back
			fc.feed(frames)
			cs.serve()
			if cs.lent == 0 {
				t.Fatal("nothing lent is queued")
			}
			cs.account()
			own := cs.queued + cs.qoff - cs.lent
			if got := cs.accounted.Load(); got != int64(own) || got >= 300_000 || s.buffered.Load() != got {
				t.Fatalf("accounted %d bytes (server %d), want the %d the connection owns", got, s.buffered.Load(), own)
			}
			fc.rawMax = c.rawMax // then all, or 30,000 bytes per write (partial writes across entries)
			for range 100 {
				if len(cs.queue) == 0 {
					break
				}
				cs.serve()
			}
			if len(cs.queue) != 0 || cs.lent != 0 || cs.queued != 0 {
				t.Fatalf("queue %d entries, %d lent, %d queued after the drain", len(cs.queue), cs.lent, cs.queued)
			}
			if !bytes.Equal(fc.out, copied) {
				t.Fatalf("written %d bytes, differing from the %d copied ones", len(fc.out), len(copied))
			}
		})
	}
}

// TestLentValuesBoundMemory: a client that pipelines requests for 1 MiB
// values and reads nothing makes the server hold only its requests and
// the answers' headers when the values are lent: the server's accounting
// (Stats.Buffered) stays under the requests and headers, where a copy
// would hold at least one whole value (the first answer is built whatever
// its size). Once the client reads, every answer arrives whole.
func TestLentValuesBoundMemory(t *testing.T) {
	const k, size = 32, 1 << 20
	h := &echoHandler{lend: 16 << 10}
	s := startEcho(t, Config{}, h)
	c := dialRcvBuf(t, s, 4096)
	var frames []byte
	for i := range k {
		frames = append(frames, requestFrame(int64(i), sizedBody(size))...)
	}
	if _, err := c.Write(frames); err != nil {
		t.Fatal(err)
	}
	// Held back: the kernel took part of the first answer, the rest waits
	// for the reader, the requests not dispatched yet in gnet's buffer.
	waitFor(t, "the connection held back", func() bool { return s.Stats().Backpressured == 1 })
	bound := int64(len(frames) + k*codec.ResultFrameSize(0))
	if got := s.Stats().Buffered; got > bound {
		t.Fatalf("server holds %d bytes for a non-reader of %d lent 1 MiB answers, want at most %d", got, k, bound)
	}
	want := pattern(size)
	for i := range k {
		f, _ := readFrame(t, c)
		if got, err := codec.DecodeKvStateResponse(f.Body); err != nil || f.RequestID != int64(i) || !bytes.Equal(got, want) {
			t.Fatalf("answer %d: id %d, %d bytes, %v", i, f.RequestID, len(got), err)
		}
	}
}

// heldParts is a PartHandler that keeps every batch until the test
// answers it (off the loop, like a pool worker), lending as its echo does.
type heldParts struct {
	echo  echoHandler
	calls []heldPartCall
}

type heldPartCall struct {
	reqs []byte
	n    int
	done func([]byte, [][]byte, int, int)
}

func (h *heldParts) ServeBatch([]byte, int, func([]byte)) {
	panic("heldParts: ServeBatch called on a PartHandler")
}

func (h *heldParts) ServeParts(reqs []byte, n int, _ int, _ bool, _ func([]byte, [][]byte, int), done func([]byte, [][]byte, int, int)) {
	h.calls = append(h.calls, heldPartCall{reqs: reqs, n: n, done: done})
}

func (h *heldParts) answer(i int) {
	c := h.calls[i]
	out, segs := h.echo.answerLending(c.reqs, c.n, h.echo.lend)
	c.done(out, segs, c.n, 0)
}

// TestLentBatchThenPartialDirect: a batch with lent values is written by
// its worker in one writev while direct writes are on; when the socket
// takes only part of it, the loop writes the rest (over the pieces and
// values) before the later batch, which the worker no longer writes: the
// answers go out in the order the batches completed, none cut (I9).
func TestLentBatchThenPartialDirect(t *testing.T) {
	h := &heldParts{echo: echoHandler{lend: 1000}}
	_, fc, cs := fakeServe(t, Config{}, h, true)
	first := append(requestFrame(0, []byte("ab")), requestFrame(1, sizedBody(5000))...)
	second := framesFrom(2, 3)
	fc.feed(first)
	cs.serve()
	fc.feed(second)
	cs.serve()
	if len(h.calls) != 2 {
		t.Fatalf("%d batches dispatched, want 2", len(h.calls))
	}
	fc.rawMax = 7 // the socket takes 7 bytes of the direct write
	h.answer(0)   // lent: written in part by the worker, the rest for the loop
	h.answer(1)   // must queue behind it, not write
	if fc.raw != 1 || len(fc.out) != 7 {
		t.Fatalf("%d direct writes, %d bytes: want the lent batch's one write of 7", fc.raw, len(fc.out))
	}
	qstatetest.Recv(t, fc.wakes, qstatetest.Timeout, "a wake of the loop")
	fc.rawMax = 0 // the socket takes the rest
	cs.serve()
	want := append((&echoHandler{}).answer(first, 2), (&echoHandler{}).answer(second, 3)...)
	if !bytes.Equal(fc.out, want) {
		t.Fatalf("written %d bytes, want the %d of both batches' answers in order", len(fc.out), len(want))
	}
}
