package cluster

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/qstate/qstate/codec"
)

// fakeStateServer is a state server on a loopback port that answers each
// KvStateInternalRequest with what answer returns for it (n counts the
// requests received so far, from 1). It is stopped at cleanup.
type fakeStateServer struct {
	ln       net.Listener
	answer   func(n int64, req codec.KvStateInternalRequest) (content []byte, exc *codec.JavaException, reply bool)
	requests atomic.Int64

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newFakeStateServer(t testing.TB, answer func(n int64, req codec.KvStateInternalRequest) ([]byte, *codec.JavaException, bool)) *fakeStateServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeStateServer{ln: ln, answer: answer}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.stop)
	return s
}

func (s *fakeStateServer) addr() string { return s.ln.Addr().String() }

// stop closes the listener and every connection and waits for the goroutines.
func (s *fakeStateServer) stop() {
	_ = s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.conns = nil
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *fakeStateServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c)
	}
}

func (s *fakeStateServer) serve(c net.Conn) {
	defer s.wg.Done()
	r := bufio.NewReader(c)
	for {
		var pre [4]byte
		if _, err := io.ReadFull(r, pre[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(pre[:])
		if n > 1<<20 {
			return
		}
		raw := make([]byte, 4+n)
		copy(raw, pre[:])
		if _, err := io.ReadFull(r, raw[4:]); err != nil {
			return
		}
		f, _, err := codec.DecodeFrame(raw, len(raw))
		if err != nil {
			return
		}
		req, err := codec.DecodeKvStateInternalRequest(f.Body)
		if err != nil {
			return
		}
		content, exc, reply := s.answer(s.requests.Add(1), req)
		if !reply {
			continue
		}
		var out []byte
		if exc != nil {
			out = codec.AppendRequestFailureFrame(nil, f.RequestID, codec.MustAppendThrowable(nil, exc))
		} else {
			out = codec.AppendResultFrame(nil, f.RequestID, content)
		}
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// deadAddr returns a loopback address nothing listens on (a port that was
// just bound and released).
func deadAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// errNoAnswer marks a fake directory with nothing to say.
var errNoAnswer = errors.New("fake directory: no answer")
