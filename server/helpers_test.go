package server

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/qstate/qstate/bufpool"
	"github.com/qstate/qstate/codec"
)

// ioTimeout bounds every network wait of a test.
const ioTimeout = 10 * time.Second

// startServer starts a server for cfg and h on a free loopback port and
// stops it at cleanup, checking that Serve returned ErrServerClosed.
func startServer(t testing.TB, cfg Config, h Handler) *Server {
	t.Helper()
	s, err := New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve() }()
	select {
	case <-s.Ready():
	case <-time.After(ioTimeout):
		t.Fatal("server not ready")
	}
	if s.Addr() == nil {
		t.Fatalf("server did not start: %v", <-errc)
	}
	t.Cleanup(func() {
		_ = s.Close()
		if err := <-errc; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return s
}

// dial connects to s and closes the connection at cleanup.
func dial(t testing.TB, s *Server) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.Addr().String(), ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	return c
}

// readFrame reads one whole frame (prefix included) from r.
func readFrame(t testing.TB, r io.Reader) (codec.Frame, []byte) {
	t.Helper()
	f, raw, err := tryReadFrame(r)
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	return f, raw
}

func tryReadFrame(r io.Reader) (codec.Frame, []byte, error) {
	var pre [4]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return codec.Frame{}, nil, err
	}
	n := binary.BigEndian.Uint32(pre[:])
	if n > 64<<20 {
		return codec.Frame{}, nil, fmt.Errorf("frame length %d", n)
	}
	raw := make([]byte, 4+n)
	copy(raw, pre[:])
	if _, err := io.ReadFull(r, raw[4:]); err != nil {
		return codec.Frame{}, nil, err
	}
	f, size, err := codec.DecodeFrame(raw, len(raw))
	if err != nil || size != len(raw) {
		return codec.Frame{}, nil, fmt.Errorf("decode %x: %v", raw[:min(len(raw), 32)], err)
	}
	return f, raw, nil
}

// expectEOF reads until the peer closes; it fails if data arrives first.
func expectEOF(t testing.TB, c net.Conn) {
	t.Helper()
	var b [1]byte
	n, err := c.Read(b[:])
	if n != 0 || err == nil {
		t.Fatalf("read %d bytes (%x), err %v: want the connection closed", n, b[:n], err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open: %v", err)
	}
}

// requestFrame is a REQUEST frame whose body is body.
func requestFrame(id int64, body []byte) []byte {
	b := codec.AppendHeader(nil, codec.Request, id, len(body))
	return append(b, body...)
}

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
	wg     sync.WaitGroup
	mu     sync.Mutex
	big    map[int][]byte
}

func (h *echoHandler) ServeBatch(reqs []byte, n int, done func([]byte)) {
	if h.inline {
		done(h.answer(reqs, n))
		return
	}
	h.wg.Go(func() { done(h.answer(reqs, n)) })
}

func (h *echoHandler) answer(reqs []byte, n int) []byte {
	size := 0
	for b := reqs; len(b) > 0; {
		f, k, _ := codec.DecodeFrame(b, len(b))
		size += codec.ResultFrameSize(len(h.content(f.Body)))
		b = b[k:]
	}
	out := bufpool.Get(size)
	got := 0
	for b := reqs; len(b) > 0; got++ {
		f, k, err := codec.DecodeFrame(b, len(b))
		if err != nil || k == 0 {
			panic(fmt.Sprintf("server handed a bad frame: %v", err))
		}
		out = codec.AppendResultFrame(out, f.RequestID, h.content(f.Body))
		b = b[k:]
	}
	if got != n {
		panic(fmt.Sprintf("batch has %d frames, n = %d", got, n))
	}
	return out
}

// ServeParts answers like ServeBatch within limit bytes of answers
// (PartHandler): the requests after the last answer that fits are deferred.
func (h *echoHandler) ServeParts(reqs []byte, n int, limit int, first bool, _ func([]byte, int), done func([]byte, int, int)) {
	if h.inline {
		done(h.answerWithin(reqs, limit, first))
		return
	}
	h.wg.Go(func() { done(h.answerWithin(reqs, limit, first)) })
}

// answerWithin answers the requests of reqs in order while their answers
// fit in limit (the first whatever its size when first is set).
func (h *echoHandler) answerWithin(reqs []byte, limit int, first bool) (out []byte, answered, need int) {
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
		return nil, 0, need
	}
	return h.answer(reqs[:end], answered), answered, need
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

// waitFor polls cond until it holds or the deadline passes (for states
// that raise no event, such as server counters).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

type syscallRawConn = syscall.RawConn

// setRecvBuffer sets SO_RCVBUF before connecting (a small window keeps the
// kernel from absorbing what a slow reader has not read).
func setRecvBuffer(rc syscall.RawConn, n int) error {
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, n)
	}); err != nil {
		return err
	}
	return serr
}
