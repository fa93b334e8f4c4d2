package client

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qstate/qstate/codec"
)

// fakeServer is a queryable-state server written for the tests: it accepts
// on 127.0.0.1:0 and runs serve for each connection, numbered from 0 in
// accept order. Everything it starts stops in t.Cleanup (or stop).
type fakeServer struct {
	t        testing.TB
	ln       net.Listener
	serve    func(n int, sc *srvConn)
	accepted atomic.Int32

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
	once  sync.Once
}

func newFakeServer(t testing.TB, serve func(n int, sc *srvConn)) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{t: t, ln: ln, serve: serve}
	s.wg.Add(1)
	go s.acceptLoop()
	t.Cleanup(s.stop)
	return s
}

func (s *fakeServer) addr() string { return s.ln.Addr().String() }

func (s *fakeServer) acceptLoop() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		n := int(s.accepted.Add(1)) - 1
		s.mu.Lock()
		s.conns = append(s.conns, nc)
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer nc.Close()
			s.serve(n, &srvConn{Conn: nc, r: bufio.NewReaderSize(nc, 64<<10)})
		}()
	}
}

// stop closes the listener and every connection and waits for the serve
// goroutines.
func (s *fakeServer) stop() {
	s.once.Do(func() {
		_ = s.ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
}

// srvConn is the server side of one connection.
type srvConn struct {
	net.Conn
	r *bufio.Reader
}

// readFrame reads one whole frame and returns it decoded, its body copied.
func (sc *srvConn) readFrame() (codec.Frame, error) {
	var p [codec.LengthLen]byte
	if _, err := io.ReadFull(sc.r, p[:]); err != nil {
		return codec.Frame{}, err
	}
	n, _ := codec.FrameLength(p[:])
	if err := codec.CheckFrameLength(n, 0); err != nil {
		return codec.Frame{}, err
	}
	content := make([]byte, n)
	if _, err := io.ReadFull(sc.r, content); err != nil {
		return codec.Frame{}, err
	}
	return codec.DecodeFrameContent(content)
}

// readRequests reads n REQUEST frames and returns them.
func (sc *srvConn) readRequests(n int) ([]codec.Frame, error) {
	fs := make([]codec.Frame, 0, n)
	for len(fs) < n {
		f, err := sc.readFrame()
		if err != nil {
			return fs, err
		}
		if f.Type != codec.Request {
			return fs, errors.New("fake server: not a REQUEST")
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// drain reads and discards until the connection ends.
func (sc *srvConn) drain() { _, _ = io.Copy(io.Discard, sc.r) }

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
func echo(sc *srvConn) {
	for {
		f, err := sc.readFrame()
		if err != nil {
			return
		}
		if _, err := sc.Write(codec.AppendResultFrame(nil, f.RequestID, answerOf(kvOf(f, false), f.RequestID))); err != nil {
			return
		}
	}
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

// waitFor polls cond until it holds or d passes (for states no event
// announces, such as requests reaching the pending map).
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// kvFor builds a distinct key-and-namespace for caller g, request i: a
// Flink string key, magic byte, VoidNamespace.
func kvFor(g, i int) []byte {
	key := []byte{byte(g), byte(g >> 8), byte(i), byte(i >> 8)}
	kv := append([]byte{byte(len(key) + 1)}, key...)
	return append(kv, 0x2a, 0x00)
}

// newReplyServer starts a fake server that answers each request frame with
// the bytes reply returns (nothing when nil), on every connection.
func newReplyServer(t testing.TB, reply func(f codec.Frame) []byte) *fakeServer {
	return newFakeServer(t, func(_ int, sc *srvConn) {
		for {
			f, err := sc.readFrame()
			if err != nil {
				return
			}
			if out := reply(f); out != nil {
				if _, err := sc.Write(out); err != nil {
					return
				}
			}
		}
	})
}

// withRequestID returns a copy of a whole frame (prefix included) of a type
// that has a request id, with the id replaced.
func withRequestID(frame []byte, rid int64) []byte {
	out := bytes.Clone(frame)
	binary.BigEndian.PutUint64(out[codec.LengthLen+codec.HeaderLen:], uint64(rid))
	return out
}
