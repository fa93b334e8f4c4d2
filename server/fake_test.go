package server

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/internal/vectors"
)

// fakeConn is an in-process netConn: inbound bytes come from feed, writes
// are counted (and kept when keep is set), Wake signals wakes. It lets
// tests and benchmarks drive a conn without sockets, playing the event
// loop themselves.
type fakeConn struct {
	buf     []byte // inbound storage; in is buf[off:]
	off     int
	written int // bytes written, through gnet (Write) or by the server itself (rawWrite, rawWritev)
	writes  int // Write calls (gnet's: only the SERVER_FAILURE before a close)
	keep    bool
	out     []byte
	wakes   chan struct{}

	// The server's own writes (rawWrite, rawWritev): the loop's, and
	// workers' direct writes under conn.mu. rawMax plays the kernel.
	raws   chan struct{} // signalled by each write
	rawMax int           // a write takes at most this many bytes (0: all; -1: none, EAGAIN)
	raw    int           // writes made
}

func newFakeConn() *fakeConn {
	return &fakeConn{wakes: make(chan struct{}, 1), raws: make(chan struct{}, 1)}
}

func (f *fakeConn) feed(b []byte) {
	if f.off == len(f.buf) {
		f.buf, f.off = f.buf[:0], 0
	}
	f.buf = append(f.buf, b...)
}

func (f *fakeConn) Peek(n int) ([]byte, error) {
	in := f.buf[f.off:]
	if n > len(in) {
		return nil, io.ErrShortBuffer
	}
	if n <= 0 {
		n = len(in)
	}
	return in[:n], nil
}

func (f *fakeConn) Discard(n int) (int, error) {
	in := f.buf[f.off:]
	if n <= 0 || n > len(in) {
		n = len(in)
	}
	f.off += n
	return n, nil
}

func (f *fakeConn) InboundBuffered() int { return len(f.buf) - f.off }

func (f *fakeConn) Write(p []byte) (int, error) {
	f.writes++
	return f.put(p)
}

// put records p as written.
func (f *fakeConn) put(p []byte) (int, error) {
	f.written += len(p)
	if f.keep {
		f.out = append(f.out, p...)
	}
	return len(p), nil
}

// rawWrite is a write of the server's own: it takes p, or its first
// rawMax bytes.
func (f *fakeConn) rawWrite(p []byte) (int, error) {
	return f.rawWritev([][]byte{p})
}

// rawWritev is rawWrite of the buffers one after the other, without
// allocating (the alloc tests write through it).
func (f *fakeConn) rawWritev(bs [][]byte) (int, error) {
	f.raw++
	select {
	case f.raws <- struct{}{}:
	default:
	}
	if f.rawMax < 0 {
		return -1, unix.EAGAIN
	}
	n := 0
	for _, b := range bs {
		if f.rawMax > 0 && n+len(b) > f.rawMax {
			b = b[:f.rawMax-n]
		}
		k, _ := f.put(b)
		n += k
		if f.rawMax > 0 && n == f.rawMax {
			break
		}
	}
	return n, nil
}

func (f *fakeConn) Fd() int { return -1 }

func (f *fakeConn) Wake(gnet.AsyncCallback) error {
	select {
	case f.wakes <- struct{}{}:
	default:
	}
	return nil
}

// newTestServer returns a server that is not listening, in the serving
// state, for driving conns by hand.
func newTestServer(t testing.TB, cfg Config, h Handler) *Server {
	t.Helper()
	s, err := New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	s.state.Store(stateServing)
	return s
}

// fakeServe returns a server for cfg and h that is not listening, in the
// serving state, and one of its connections over a fake connection, which
// keeps what is written to it when keep is set.
func fakeServe(t testing.TB, cfg Config, h Handler, keep bool) (*Server, *fakeConn, *conn) {
	t.Helper()
	s := newTestServer(t, cfg, h)
	fc := newFakeConn()
	fc.keep = keep
	return s, fc, newConn(s, fc)
}

// echoOrWorker is an echo handler that answers inline, or, unless inline,
// a worker handler (stopped at cleanup) that answers on its goroutine.
func echoOrWorker(t testing.TB, inline bool) Handler {
	if inline {
		return &echoHandler{inline: true}
	}
	w := newWorkerHandler()
	t.Cleanup(w.stop)
	return w
}

// workerHandler answers batches on one long-lived goroutine, like a pool
// worker, without allocating: the handoff is a channel of values.
type workerHandler struct {
	echo  echoHandler
	tasks chan workerTask
	quit  chan struct{}
	done  chan struct{}
}

type workerTask struct {
	reqs  []byte
	n     int
	done  func([]byte)
	doneN func([]byte, [][]byte, int, int) // a PartHandler's done (then limit and first apply)
	limit int
	first bool
}

func newWorkerHandler() *workerHandler {
	w := &workerHandler{tasks: make(chan workerTask, 64), quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			select {
			case t := <-w.tasks:
				t.done(w.echo.answer(t.reqs, t.n))
			case <-w.quit:
				return
			}
		}
	}()
	return w
}

func (w *workerHandler) ServeBatch(reqs []byte, n int, done func([]byte)) {
	w.tasks <- workerTask{reqs: reqs, n: n, done: done}
}

func (w *workerHandler) stop() { close(w.quit); <-w.done }

// pipelineFrames returns k REQUEST frames with small bodies.
func pipelineFrames(k int) []byte {
	var b []byte
	for i := range k {
		b = append(b, requestFrame(int64(i), []byte("01234567"))...)
	}
	return b
}

// roundTrip feeds frames, runs the conn's event-loop pass and, for a
// handler that answers off the loop, waits until every answer is written:
// by the worker itself (a direct write: settle counts it, as the idle
// sweep does), or by the loop in the pass a wake runs.
func roundTrip(cs *conn, fc *fakeConn, frames []byte, inline bool) {
	fc.feed(frames)
	cs.serve()
	for !inline && cs.inflight > 0 {
		select {
		case <-fc.wakes:
			cs.serve()
		case <-fc.raws:
			cs.settle() // waits for the writer to leave mu: its count is in
		}
	}
}

// TestFakeConnRoundTrip checks the harness itself: every frame answered.
func TestFakeConnRoundTrip(t *testing.T) {
	for _, inline := range []bool{true, false} {
		h := echoOrWorker(t, inline)
		s, fc, cs := fakeServe(t, Config{}, h, true)
		frames := pipelineFrames(16)
		roundTrip(cs, fc, frames, inline)
		n := 0
		for b := fc.out; len(b) > 0; n++ {
			f, k, err := codec.DecodeFrame(b, 0)
			if err != nil || k == 0 || f.Type != codec.RequestResult || f.RequestID != int64(n) {
				t.Fatalf("answer %d: %+v %d %v", n, f, k, err)
			}
			b = b[k:]
		}
		if n != 16 || cs.inflight != 0 {
			t.Fatalf("inline=%v: %d answers, inflight %d", inline, n, cs.inflight)
		}
		// A worker releases its batch just after its direct write is counted.
		waitFor(t, "every batch released", func() bool { return s.Stats().InFlight == 0 })
	}
}

// FuzzServeBytes feeds arbitrary bytes to a connection: no panic, and
// either every whole frame is answered or the connection is closed.
func FuzzServeBytes(f *testing.F) {
	f.Add(pipelineFrames(3))
	f.Add([]byte{0xff, 0xff, 0xff, 0xfb})
	f.Add(append(requestFrame(1, []byte("x")), 0, 0, 0, 9, 0x79, 0xa1, 0xb7, 0x10, 0, 0, 0, 1, 0))
	f.Add([]byte{0, 0, 0, 8, 0x79, 0xa1, 0xb7, 0x10, 0, 0, 0, 0})
	for _, kind := range []string{"request_frame", "internal_request_frame", "response_frame"} {
		vs, err := vectors.Kind(kind)
		if err != nil {
			f.Fatal(err)
		}
		for _, v := range vs {
			f.Add(v.Hex("frame_hex"))
		}
	}
	h := &echoHandler{inline: true}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, fc, cs := fakeServe(t, Config{MaxFrameLen: 4096, MaxInbound: 1 << 16}, h, true)
		// Feed in two pieces to exercise partial frames.
		half := len(data) / 2
		fc.feed(data[:half])
		if cs.serve() == gnet.Close {
			return
		}
		fc.feed(data[half:])
		act := cs.serve()
		for b := fc.out; len(b) > 0; {
			fr, k, err := codec.DecodeFrame(b, 0)
			if err != nil || k == 0 {
				t.Fatalf("server wrote a bad frame: %v", err)
			}
			if fr.Type != codec.RequestResult && fr.Type != codec.ServerFailure {
				t.Fatalf("server wrote %v", fr.Type)
			}
			if fr.Type == codec.ServerFailure && act != gnet.Close {
				t.Fatal("SERVER_FAILURE without closing")
			}
			b = b[k:]
		}
		if act != gnet.Close && cs.inflight != 0 {
			t.Fatalf("inflight %d after inline answers", cs.inflight)
		}
	})
}

// TestDoneTwicePanics: a handler that answers a batch twice is a bug the
// server refuses loudly (I3).
func TestDoneTwicePanics(t *testing.T) {
	h := HandlerFunc(func(reqs []byte, n int, done func([]byte)) {
		done(nil)
		done(nil)
	})
	_, fc, cs := fakeServe(t, Config{}, h, false)
	fc.feed(requestFrame(1, []byte("x")))
	defer func() {
		if p := recover(); p == nil || !strings.Contains(fmt.Sprint(p), "twice") {
			t.Fatalf("recovered %v, want the done-twice panic", p)
		}
	}()
	cs.serve()
}
