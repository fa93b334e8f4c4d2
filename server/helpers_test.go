package server

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/qstate/qstate/bufpool"
	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/internal/qstatetest"
)

// ioTimeout bounds every network wait of a test.
const ioTimeout = qstatetest.Timeout

// The test kit's frame helpers, under the names this package's tests use.
var (
	readFrame       = qstatetest.MustReadFrame   // one whole frame, or the test fails
	tryReadFrame    = qstatetest.ReadFrame       // one whole frame, or the error
	readUntilClosed = qstatetest.ReadUntilClosed // every frame until the connection ends
	expectEOF       = qstatetest.ExpectClosed    // the server closed the connection
	requestFrame    = qstatetest.RequestFrame    // a REQUEST frame with a body
)

// startServer starts a server for cfg and h on a free loopback port and
// stops it at cleanup, checking that Serve returned ErrServerClosed.
func startServer(t testing.TB, cfg Config, h Handler) *Server {
	t.Helper()
	s, _ := startStoppable(t, cfg, h)
	return s
}

// startEcho starts a server for h and, at cleanup, once the server has
// stopped, waits for h's goroutines.
func startEcho(t testing.TB, cfg Config, h *echoHandler) *Server {
	t.Helper()
	t.Cleanup(h.wg.Wait) // registered first: runs after the server's cleanups
	return startServer(t, cfg, h)
}

// startStoppable starts a server like startServer, but returns a stop
// function (Shutdown, then Serve's return checked) for tests that check
// goroutines after the server is gone. Cleanup closes it if stop was not
// called.
func startStoppable(t testing.TB, cfg Config, h Handler) (*Server, func()) {
	t.Helper()
	s, err := New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	stop := qstatetest.Serve(t, "server", s, ErrServerClosed)
	t.Cleanup(func() { _ = s.Close() }) // runs before stop's cleanup: what the test left is closed, not drained
	return s, stop
}

// dial connects to s and closes the connection at cleanup.
func dial(t testing.TB, s *Server) net.Conn {
	t.Helper()
	return qstatetest.Dial(t, s.Addr().String())
}

// connEvent is one call of Config.ConnState.
type connEvent struct {
	id     uint64
	state  ConnState
	reason CloseReason
}

// watchConns makes cfg report its connections' states to the events it
// returns, for tests to wait on.
func watchConns(cfg *Config) *qstatetest.Events[connEvent] {
	ev := &qstatetest.Events[connEvent]{}
	cfg.ConnState = func(id uint64, st ConnState, r CloseReason) { ev.Add(connEvent{id, st, r}) }
	return ev
}

// closedFor matches the close of a connection for r.
func closedFor(r CloseReason) func(connEvent) bool {
	return func(e connEvent) bool { return e.state == ConnClosed && e.reason == r }
}

// isClosed matches the close of a connection, for any reason.
func isClosed(e connEvent) bool { return e.state == ConnClosed }

// sizedBody asks the echo handler for an answer of n bytes.
func sizedBody(n int) []byte { return []byte("size:" + strconv.Itoa(n)) }

// content returns the content the echo handler answers for body: body
// itself, or for "size:N" N bytes of a pattern.
func content(body []byte) []byte {
	if rest, ok := bytes.CutPrefix(body, []byte("size:")); ok {
		n, _ := strconv.Atoi(string(rest))
		return pattern(n)
	}
	return body
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// echoHandler answers each request with its body (or the pattern a
// "size:N" body asks for), on a goroutine (pool-like) or inline. Its
// goroutines are waited for at cleanup.
type echoHandler struct {
	inline bool
	lend   int // > 0: ServeParts lends contents of at least this many bytes (PartHandler's segs)
	wg     goroutines
	mu     sync.Mutex
	big    map[int][]byte
}

// goroutines counts goroutines like a sync.WaitGroup, under a mutex: the
// tests wait for the echo goroutines at cleanup while the server may
// still dispatch, and a WaitGroup's Add then races its Wait (in the race
// detector's eyes: the answers' way to the test goes through the kernel).
type goroutines struct {
	mu   sync.Mutex
	n    int
	zero sync.Cond
}

// Go runs f on a new goroutine, counted until it returns.
func (g *goroutines) Go(f func()) {
	g.mu.Lock()
	g.n++
	g.mu.Unlock()
	go func() {
		defer func() {
			g.mu.Lock()
			if g.n--; g.n == 0 && g.zero.L != nil {
				g.zero.Broadcast()
			}
			g.mu.Unlock()
		}()
		f()
	}()
}

// Wait returns once every goroutine started by Go has returned.
func (g *goroutines) Wait() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.zero.L == nil {
		g.zero.L = &g.mu
	}
	for g.n > 0 {
		g.zero.Wait()
	}
}

func (h *echoHandler) ServeBatch(reqs []byte, n int, done func([]byte)) {
	if h.inline {
		done(h.answer(reqs, n))
		return
	}
	h.wg.Go(func() { done(h.answer(reqs, n)) })
}

func (h *echoHandler) answer(reqs []byte, n int) []byte {
	out, _ := h.answerLending(reqs, n, 0)
	return out
}

// lends reports whether h lends a content of n bytes.
func (h *echoHandler) lends(n int) bool { return h.lend > 0 && n >= h.lend }

// answerLending answers reqs, lending contents of at least lend bytes
// (lend > 0): segs then holds the answers' pieces (PartHandler).
func (h *echoHandler) answerLending(reqs []byte, n, lend int) (out []byte, segs [][]byte) {
	size := 0
	for b := reqs; len(b) > 0; {
		f, k, _ := codec.DecodeFrame(b, len(b))
		c := len(h.content(f.Body))
		if lend > 0 && c >= lend {
			c = 0
		}
		size += codec.ResultFrameSize(c)
		b = b[k:]
	}
	out = bufpool.Get(size)
	got, mark := 0, 0
	for b := reqs; len(b) > 0; got++ {
		f, k, err := codec.DecodeFrame(b, len(b))
		if err != nil || k == 0 {
			panic(fmt.Sprintf("server handed a bad frame: %v", err))
		}
		c := h.content(f.Body)
		if lend > 0 && len(c) >= lend {
			out = codec.AppendHeader(out, codec.RequestResult, f.RequestID, 4+len(c))
			out = binary.BigEndian.AppendUint32(out, uint32(len(c)))
			segs = append(segs, out[mark:], c)
			mark = len(out)
		} else {
			out = codec.AppendResultFrame(out, f.RequestID, c)
		}
		b = b[k:]
	}
	if segs != nil {
		segs = append(segs, out[mark:])
	}
	if got != n {
		panic(fmt.Sprintf("batch has %d frames, n = %d", got, n))
	}
	return out, segs
}

// ServeParts answers like ServeBatch within limit bytes of answers
// (PartHandler): the requests after the last answer that fits are deferred.
func (h *echoHandler) ServeParts(reqs []byte, n int, limit int, first bool, _ func([]byte, [][]byte, int), done func([]byte, [][]byte, int, int)) {
	if h.inline {
		done(h.answerWithin(reqs, limit, first))
		return
	}
	h.wg.Go(func() { done(h.answerWithin(reqs, limit, first)) })
}

var _ PartHandler = (*echoHandler)(nil)

// answerWithin answers the requests of reqs in order while their answers
// fit in limit (the first whatever its size when first is set).
func (h *echoHandler) answerWithin(reqs []byte, limit int, first bool) (out []byte, segs [][]byte, answered, need int) {
	size, end := 0, 0
	for b := reqs; len(b) > 0; answered++ {
		f, k, _ := codec.DecodeFrame(b, len(b))
		sz := codec.ResultFrameSize(len(h.content(f.Body)))
		if size+sz > limit && (answered > 0 || !first) {
			need = sz
			break
		}
		size += sz
		end += k
		b = b[k:]
	}
	if answered == 0 {
		return nil, nil, 0, need
	}
	out, segs = h.answerLending(reqs[:end], answered, h.lend)
	return out, segs, answered, need
}

func (h *echoHandler) content(body []byte) []byte {
	rest, ok := bytes.CutPrefix(body, []byte("size:"))
	if !ok {
		return body
	}
	n, _ := strconv.Atoi(string(rest))
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.big == nil {
		h.big = make(map[int][]byte)
	}
	if h.big[n] == nil {
		h.big[n] = pattern(n)
	}
	return h.big[n]
}

// waitFor waits until cond holds (for states that raise no event, such
// as server counters).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	qstatetest.Eventually(t, ioTimeout, cond, what)
}

// dialRcvBuf connects to s with SO_RCVBUF set to rcvbuf before connecting
// (a small window keeps the kernel from absorbing what the test does not
// read), and closes the connection at cleanup.
func dialRcvBuf(t testing.TB, s *Server, rcvbuf int) net.Conn {
	t.Helper()
	return qstatetest.DialWindow(t, s.Addr().String(), rcvbuf)
}
