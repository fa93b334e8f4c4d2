package kvref

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/panjf2000/ants/v2"
	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
	"golang.org/x/sys/unix"

	"github.com/qstate/qstate/bufpool"
	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/state"
)

// ErrServerClosed is what Serve returns after Shutdown.
var ErrServerClosed = errors.New("kvref: server closed")

// Config configures a Server.
type Config struct {
	Addr       string // host:port on which to listen; port 0 picks a free one
	Keys       int    // keys 0..Keys-1 of the synthetic dataset
	ValueSize  int    // bytes per value
	Flat       bool   // answer from a flat array indexed by the int key (a lower bound), not a Go map
	EventLoops int    // gnet event loops; 0: one per CPU
	PoolSize   int    // ants workers; 0: 1024
	MaxFrame   int    // largest frame accepted; 0: 64 KiB
}

// Validate reports the first thing wrong with c.
func (c Config) Validate() error {
	switch {
	case c.Keys < 1 || c.Keys > 1<<26:
		return fmt.Errorf("kvref: keys %d not in 1..%d", c.Keys, 1<<26)
	case c.ValueSize < 0 || c.ValueSize > 1<<20:
		return fmt.Errorf("kvref: value size %d not in 0..%d", c.ValueSize, 1<<20)
	case c.EventLoops < 0 || c.PoolSize < 0 || c.MaxFrame < 0:
		return fmt.Errorf("kvref: negative event loops, pool size or frame limit")
	}
	return nil
}

// Server is the reference server; New builds its table, Serve runs it.
type Server struct {
	cfg   Config
	job   [16]byte
	byKey map[string][]byte // serialized key and namespace -> answer content (map mode)
	flat  []byte            // Keys answers of csize bytes each (flat mode)
	csize int               // answer content size: i32 length, then the value

	missing []byte // UnknownKeyOrNamespaceException payload
	pool    *ants.Pool

	mu      sync.Mutex
	eng     gnet.Engine
	booted  bool
	stopped bool
	addr    *net.TCPAddr
	ready   chan struct{}
	once    sync.Once
}

// New builds the dataset's table and the pool.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.PoolSize == 0 {
		cfg.PoolSize = 1024
	}
	if cfg.MaxFrame == 0 {
		cfg.MaxFrame = 64 << 10
	}
	job, err := registry.ParseJobID(dataset.SyntheticJobID)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, job: job, csize: 4 + cfg.ValueSize, ready: make(chan struct{})}
	s.missing = codec.UnknownKeyOrNamespacePayload(codec.ServerName)
	if cfg.Flat {
		s.flat = make([]byte, 0, cfg.Keys*s.csize)
		for k := range cfg.Keys {
			s.flat = s.content(s.flat, k)
		}
	} else {
		s.byKey = make(map[string][]byte, cfg.Keys)
		for k := range cfg.Keys {
			kn := state.AppendKeyAndNamespace(nil, state.Int, int32(k), state.Void, state.VoidNamespace{})
			s.byKey[string(kn)] = s.content(make([]byte, 0, s.csize), k) // its own allocation, as in a store
		}
	}
	// Importing gnet releases ants' default pool: this one is ours.
	s.pool, err = ants.NewPool(cfg.PoolSize, ants.WithExpiryDuration(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("kvref: pool: %w", err)
	}
	return s, nil
}

// content appends key k's answer: BytePrimitiveArraySerializer's i32
// length, then the synthetic value.
func (s *Server) content(dst []byte, k int) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(s.cfg.ValueSize))
	return dataset.SyntheticValue(dst, k, s.cfg.ValueSize)
}

// Serve listens and serves until Shutdown, then returns ErrServerClosed.
func (s *Server) Serve() error {
	defer s.once.Do(func() { close(s.ready) })
	opts := []gnet.Option{
		gnet.WithMulticore(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogLevel(logging.ErrorLevel),
	}
	if s.cfg.EventLoops > 0 {
		opts = append(opts, gnet.WithNumEventLoop(s.cfg.EventLoops))
	}
	err := gnet.Run(s.events(), "tcp://"+s.cfg.Addr, opts...)
	s.pool.Release()
	s.mu.Lock()
	stopped := s.stopped
	s.mu.Unlock()
	if stopped {
		return ErrServerClosed
	}
	if err == nil {
		err = errors.New("gnet.Run returned without an error")
	}
	return fmt.Errorf("kvref: %w", err)
}

// Ready is closed once the server listens (or Serve has returned).
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr is the address the server listens on, nil before it does.
func (s *Server) Addr() *net.TCPAddr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Shutdown stops the engine (closing every connection) and returns when it
// has stopped or ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.stopped = true
	eng, booted := s.eng, s.booted
	s.mu.Unlock()
	if !booted {
		return nil // OnBoot sees stopped and shuts the engine down
	}
	_ = eng.Stop(ctx) // ctx.Err(), or ErrEngineInShutdown when a Shutdown is under way
	return ctx.Err()
}

// events is the gnet.EventHandler of a Server.
type events struct {
	gnet.BuiltinEventEngine
	s *Server
}

func (s *Server) events() *events { return &events{s: s} }

// OnBoot records the engine and the bound address.
func (e *events) OnBoot(eng gnet.Engine) gnet.Action {
	s := e.s
	addr := boundAddr(eng)
	s.mu.Lock()
	s.eng, s.booted, s.addr = eng, true, addr
	stopped := s.stopped
	s.mu.Unlock()
	s.once.Do(func() { close(s.ready) })
	if stopped {
		return gnet.Shutdown
	}
	return gnet.None
}

// boundAddr returns the address the engine listens on (port 0 resolved).
func boundAddr(eng gnet.Engine) *net.TCPAddr {
	fd, err := eng.Dup()
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
	}
	return nil
}

// OnTraffic copies the whole frames out of gnet's buffer and hands them to
// one pool task; a broken stream is answered with Flink's SERVER_FAILURE
// and closed.
func (e *events) OnTraffic(c gnet.Conn) gnet.Action {
	s := e.s
	buf, err := c.Peek(-1)
	if err != nil || len(buf) == 0 {
		return gnet.None
	}
	whole, n := 0, 0
	var broken error
	for whole < len(buf) {
		_, k, err := codec.DecodeFrame(buf[whole:], s.cfg.MaxFrame)
		if err != nil {
			broken = err
			break
		}
		if k == 0 {
			break
		}
		whole += k
		n++
	}
	if whole > 0 {
		batch := append(bufpool.Get(whole), buf[:whole]...)
		_, _ = c.Discard(whole) // never Discard(0): gnet then discards everything
		if err := s.pool.Submit(func() { s.answer(c, batch, n) }); err != nil {
			bufpool.Put(batch)
			return gnet.Close
		}
	}
	if broken != nil {
		// Queued after the batch's task: its answers may be lost with the
		// connection, which is fine for a reference.
		exc := codec.NewFrameFailure(buf[whole:], broken)
		_, _ = c.Discard(-1)
		if exc == nil {
			return gnet.Close
		}
		out := codec.AppendServerFailureFrame(nil, codec.MustAppendThrowable(nil, exc))
		_ = c.AsyncWrite(out, func(c gnet.Conn, _ error) error { return c.Close() })
	}
	return gnet.None
}

// answer looks up the n requests of batch and queues their answers with one
// AsyncWrite; it runs on a pool worker.
func (s *Server) answer(c gnet.Conn, batch []byte, n int) {
	out := bufpool.Get(n * codec.ResultFrameSize(s.csize))
	for b := batch; len(b) > 0; {
		f, k, err := codec.DecodeFrame(b, s.cfg.MaxFrame)
		if err != nil || k == 0 {
			break // cannot happen: OnTraffic passed whole frames only
		}
		b = b[k:]
		if f.Type != codec.Request {
			out = codec.AppendRequestFailureFrame(out, f.RequestID, s.missing)
			continue
		}
		if v, ok := s.lookup(f.Body); ok {
			out = codec.AppendResultFrame(out, f.RequestID, v)
		} else {
			out = codec.AppendRequestFailureFrame(out, f.RequestID, s.missing)
		}
	}
	bufpool.Put(batch)
	if err := c.AsyncWrite(out, func(gnet.Conn, error) error { bufpool.Put(out); return nil }); err != nil {
		bufpool.Put(out)
	}
}

// lookup returns the answer content for a KvStateRequest body, false when
// the body does not parse or names another job, state or key.
func (s *Server) lookup(body []byte) ([]byte, bool) {
	r, err := codec.DecodeKvStateRequest(body)
	if err != nil || r.JobID != s.job || string(r.StateName) != dataset.SyntheticState {
		return nil, false
	}
	if s.flat == nil {
		v, ok := s.byKey[string(r.KeyAndNamespace)]
		return v, ok
	}
	kn := r.KeyAndNamespace // Integer key (4 bytes), 0x2A, VoidNamespace (one 0 byte)
	if len(kn) != 6 || kn[4] != 0x2A || kn[5] != 0 {
		return nil, false
	}
	k := int32(binary.BigEndian.Uint32(kn))
	if k < 0 || int(k) >= s.cfg.Keys {
		return nil, false
	}
	off := int(k) * s.csize
	return s.flat[off : off+s.csize : off+s.csize], true
}
