package qstatetest

import (
	"bufio"
	"net"
	"sync"
	"testing"

	"github.com/qstate/qstate/codec"
)

// Server is a fake server on a free loopback port: it runs serve for each
// connection it accepts, on its own goroutine, and closes the connection
// when serve returns. Everything it starts ends in Stop, which runs at
// the test's cleanup.
type Server struct {
	ln    net.Listener
	serve func(n int, c *Conn)

	// Closed records the number (from 0, in accept order) of each
	// connection whose serve returned, once it is closed.
	Closed Events[int]

	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	accepted int
	wg       sync.WaitGroup
	once     sync.Once
}

// NewServer listens on 127.0.0.1:0 and serves every connection with serve,
// n numbering connections from 0 in accept order.
func NewServer(t testing.TB, serve func(n int, c *Conn)) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{ln: ln, serve: serve, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Stop)
	return s
}

// NewReplyServer starts a Server that answers each frame of every
// connection with what reply returns (nothing when nil).
func NewReplyServer(t testing.TB, reply func(f codec.Frame) []byte) *Server {
	return NewServer(t, func(_ int, c *Conn) { _ = c.Answer(reply) })
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Accepted is the number of connections accepted so far.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Open is the number of connections open now.
func (s *Server) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		n := s.accepted
		s.accepted++
		s.conns[nc] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(n, &Conn{Conn: nc, R: bufio.NewReaderSize(nc, 64<<10)})
			_ = nc.Close()
			s.mu.Lock()
			delete(s.conns, nc)
			s.mu.Unlock()
			s.Closed.Add(n)
		}()
	}
}

// Stop closes the listener and every connection and waits for the
// goroutines (idempotent).
func (s *Server) Stop() {
	s.once.Do(func() {
		_ = s.ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
}

// DeadAddr returns a loopback address nothing listens on (a port that was
// just bound and released).
func DeadAddr(t testing.TB) string {
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

// BusyAddr returns a loopback address that is taken (something listens on
// it, accepting nothing) until the test ends.
func BusyAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln.Addr().String()
}
