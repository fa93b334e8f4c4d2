package server

import (
	"bytes"
	"net"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/internal/qstatetest"
)

// Contract tests of the direct writes against real gnet (not a fake): what
// doc.go's "Direct writes" relies on in gnet holds on real sockets, with
// real partial writes and a real reused descriptor.

// rawWrite is one write past gnet, as the recorder saw it.
type rawWriteRec struct {
	conn     int  // which connection's writer (in the order they were made)
	fd       int  // its descriptor
	fromTask bool // made on the test handler's goroutine (a direct write), else the event loop
	want, n  int  // bytes asked and taken
}

// rawRecorder wraps each connection's socket writer (Server.testRaw) and
// records every write past gnet; short signals a direct write the socket
// did not take whole.
type rawRecorder struct {
	mu     sync.Mutex
	conns  int
	writes []rawWriteRec
	task   int64 // the goroutine of the test handler (goid)
	fds    []int // each connection's descriptor, in the order they were made
}

type recordingWriter struct {
	w    rawWriter
	conn int
	r    *rawRecorder
}

func (w recordingWriter) rawWrite(p []byte) (int, error) {
	n, err := w.w.rawWrite(p)
	fd := -1
	if f, ok := w.w.(fdWriter); ok {
		fd = int(f)
	}
	r := w.r
	r.mu.Lock()
	rec := rawWriteRec{conn: w.conn, fd: fd, fromTask: goid() == r.task, want: len(p), n: max(n, 0)}
	r.writes = append(r.writes, rec)
	r.mu.Unlock()
	return n, err
}

func (w recordingWriter) rawWritev(bs [][]byte) (int, error) {
	n := 0
	for _, b := range bs {
		n += len(b)
	}
	k, err := w.w.rawWritev(bs)
	w.r.mu.Lock()
	w.r.writes = append(w.r.writes, rawWriteRec{conn: w.conn, fromTask: goid() == w.r.task, want: n, n: max(k, 0)})
	w.r.mu.Unlock()
	return k, err
}

func (r *rawRecorder) wrap(w rawWriter) rawWriter {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.conns++
	fd := -1
	if f, ok := w.(fdWriter); ok {
		fd = int(f)
	}
	r.fds = append(r.fds, fd)
	return recordingWriter{w: w, conn: r.conns, r: r}
}

// directWrites returns the writes made by the handler's goroutine: whole
// and short ones.
func (r *rawRecorder) directWrites() (whole, short int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range r.writes {
		if w.fromTask {
			if w.n == w.want {
				whole++
			} else {
				short++
			}
		}
	}
	return whole, short
}

// goid returns the current goroutine's id (from its stack header).
func goid() int64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		id, _ := strconv.ParseInt(string(b[:i]), 10, 64)
		return id
	}
	return -1
}

// taskHandler hands every batch to the test, which answers it from one
// goroutine of its own (a pool worker's stand-in).
type taskHandler struct{ calls chan heldCall }

func (h *taskHandler) ServeBatch(reqs []byte, n int, done func([]byte)) {
	h.calls <- heldCall{reqs, n, done}
}

// startRecorded starts a server whose connections' raw writes r records.
func startRecorded(t *testing.T, cfg Config, h Handler, r *rawRecorder) *Server {
	t.Helper()
	s, err := New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	s.testRaw = r.wrap
	qstatetest.Serve(t, "server", s, ErrServerClosed)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// answerer answers the batches of h on one goroutine, whose id it
// records in r; stopped at cleanup.
func answerer(t *testing.T, h *taskHandler, r *rawRecorder) {
	var echo echoHandler
	quit, done, started := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		r.mu.Lock()
		r.task = goid()
		r.mu.Unlock()
		close(started)
		for {
			select {
			case c := <-h.calls:
				c.done(echo.answer(c.reqs, c.n))
			case <-quit:
				return
			}
		}
	}()
	<-started
	t.Cleanup(func() { close(quit); <-done })
}

// TestDirectWriteGnetPartial: on a real gnet connection a pool worker
// writes a batch's answers to the socket itself while nothing else waits;
// when the socket takes part of a large batch (a small window, a reader
// that waits), the event loop writes the rest through gnet before
// anything later, so the reader gets every answer whole and in order; and
// direct writes resume once the loop has nothing left (I9).
func TestDirectWriteGnetPartial(t *testing.T) {
	r := &rawRecorder{}
	h := &taskHandler{calls: make(chan heldCall, 16)}
	answerer(t, h, r)
	s := startRecorded(t, Config{SocketSendBuffer: 4096}, h, r)
	c := dialRcvBuf(t, s, 4096)
	id, read := int64(0), int64(0)
	// roundsUntilDirect sends one small request at a time until the
	// worker wrote an answer itself (a worker may answer before the loop's
	// ServeBatch returns: the loop writes that one), at most 50 times.
	roundsUntilDirect := func(what string) {
		t.Helper()
		before, _ := r.directWrites()
		for range 50 {
			if _, err := c.Write(requestFrame(id, []byte{'b', byte(id), 'x'})); err != nil {
				t.Fatal(err)
			}
			f, raw := readFrame(t, c)
			if f.RequestID != id {
				t.Fatalf("answer to %d, want %d", f.RequestID, id)
			}
			read += int64(len(raw))
			id++
			if whole, _ := r.directWrites(); whole > before {
				return
			}
		}
		t.Fatalf("%s: no direct write by the worker in 50 round trips", what)
	}
	// 300 answers of 2,000 bytes in one write: the socket takes part of the
	// worker's direct write. Whether the worker writes depends on the
	// scheduling (a worker that answers before the loop's ServeBatch
	// returns leaves the write to the loop, and then the loop owns the
	// connection until it has written everything), so an attempt that got
	// no short direct write is repeated, at most 10 times; every attempt's
	// answers must arrive whole and in order.
	const k, size = 300, 2000
	want := pattern(size)
	for attempt := 1; ; attempt++ {
		roundsUntilDirect("before the large batch")
		var frames []byte
		for i := range k {
			frames = append(frames, requestFrame(id+int64(i), sizedBody(size))...)
		}
		if _, err := c.Write(frames); err != nil {
			t.Fatal(err)
		}
		for i := range k {
			f, raw := readFrame(t, c)
			read += int64(len(raw))
			if f.Type != codec.RequestResult || f.RequestID != id+int64(i) {
				t.Fatalf("answer %d: %v id %d, want id %d", i, f.Type, f.RequestID, id+int64(i))
			}
			if got, err := codec.DecodeKvStateResponse(f.Body); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("answer %d corrupted (%d bytes, %v)", i, len(got), err)
			}
		}
		id += k
		if _, short := r.directWrites(); short > 0 {
			break
		}
		if attempt == 10 {
			t.Fatal("no short direct write recorded in 10 attempts: the test did not exercise it")
		}
	}
	roundsUntilDirect("after the partial write")
	waitFor(t, "BytesOut to count exactly the bytes the client read", func() bool { return s.Stats().BytesOut == read })
}

// TestDirectWriteGnetReusedFd: a batch answered after its connection
// closed writes nothing, even when a new connection got the same
// descriptor: the new client's first bytes are its own answer, and the
// old connection's writer wrote nothing after the close.
func TestDirectWriteGnetReusedFd(t *testing.T) {
	r := &rawRecorder{}
	h := &taskHandler{calls: make(chan heldCall, 16)}
	cfg := Config{}
	ev := watchConns(&cfg)
	s := startRecorded(t, cfg, h, r)
	c1 := dial(t, s)
	if _, err := c1.Write(requestFrame(1, []byte("old"))); err != nil {
		t.Fatal(err)
	}
	old := qstatetest.Recv(t, h.calls, ioTimeout, "the first connection's batch")
	// A reset, not a FIN: a half-close with answers owed would be handed
	// over (halfclose.go) instead of closed.
	if err := c1.(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	_ = c1.Close()
	ev.Wait(t, ioTimeout, isClosed, "the first connection closed")

	c2 := dial(t, s)
	ev.WaitN(t, ioTimeout, 2, func(e connEvent) bool { return e.state == ConnNew }, "the second connection open")
	r.mu.Lock()
	nWrites := len(r.writes)
	r.mu.Unlock()
	var echo echoHandler
	old.done(echo.answer(old.reqs, old.n)) // the stale completion, off the loop

	if _, err := c2.Write(requestFrame(2, []byte("new"))); err != nil {
		t.Fatal(err)
	}
	fresh := qstatetest.Recv(t, h.calls, ioTimeout, "the second connection's batch")
	fresh.done(echo.answer(fresh.reqs, fresh.n))
	f, _ := readFrame(t, c2)
	if f.RequestID != 2 {
		t.Fatalf("the new connection's first answer has id %d, want 2 (the old connection's answer leaked)", f.RequestID)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t.Logf("descriptors: old connection %d, new %d", r.fds[0], r.fds[1])
	for _, w := range r.writes[nWrites:] {
		if w.conn == 1 {
			t.Fatalf("the closed connection's writer wrote %d bytes to fd %d after its close", w.n, w.fd)
		}
	}
}
