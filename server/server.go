package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// Handler answers the requests of a connection, a batch at a time. The
// server calls ServeBatch on the connection's event loop, so it must not
// block: a handler that does real work hands the batch to its own
// goroutines (package handler runs it on an ants pool) and returns.
//
// reqs holds n whole REQUEST frames back to back, length prefixes
// included; the server checked each frame's length, version and type, not
// its body. reqs belongs to the server: the handler may read it until it
// calls done, and must neither modify nor keep it.
//
// done must be called exactly once per ServeBatch, from any goroutine,
// before or after ServeBatch returns. out holds the answers, whole
// REQUEST_RESULT or REQUEST_FAILURE frames back to back in any order, one
// per request (it may be empty). It should come from bufpool.Get: its
// ownership passes to the server, which writes it and gives it to
// bufpool.Put. A done called before ServeBatch returns is written at once
// by the event loop (inline dispatch); a later one wakes the event loop.
type Handler interface {
	ServeBatch(reqs []byte, n int, done func(out []byte))
}

// PartHandler is a Handler that answers a batch within a budget of answer
// bytes and in parts (package handler's Endpoint is one). The server calls
// ServeParts instead of ServeBatch; the rules of ServeBatch hold, with
// these additions:
//
//   - limit bounds the bytes of answer frames the handler builds for the
//     batch, parts included: it answers the requests in order while their
//     answers fit, and stops at the first that does not (with first set it
//     answers the first request whatever its size). The requests after the
//     last answered one are deferred: the server dispatches them again
//     later, once the connection has room.
//   - part may be called any number of times before done, from any
//     goroutines (concurrently too): out holds whole answer frames for k
//     requests, which the server writes at once, without waiting for the
//     rest of the batch (a local answer never waits for a forward).
//     Ownership of out passes as with done.
//   - done ends the batch: out holds the remaining answers, answered is
//     the number of requests answered in all (parts included), and need is
//     the answer size of the first deferred request (0 if unknown). Every
//     call to part must return before done is called.
//   - Lent bytes: instead of copying a large value into out, the handler
//     may lend it: segs (empty when nothing is lent) then holds the answers
//     in order as pieces of out alternating with lent values (out[:a],
//     v1, out[a:b], v2, ..., out[z:]; pieces may be empty), and the
//     server writes those in that order. A lent value must stay unchanged
//     until the server has written it (a state's published value is
//     never written again); segs itself is the handler's again once the
//     callback returns (the server copies it). Once handed over, lent bytes
//     cost the server no memory of its own: Stats.Buffered and
//     MaxBufferedTotal count only out; MaxOutbound counts them as the
//     pending bytes they are. While a batch is being built, its limit still
//     counts each answer whole, lent value included (the handler cannot
//     know beforehand what it will lend): the budget errs on the safe side.
type PartHandler interface {
	Handler
	ServeParts(reqs []byte, n int, limit int, first bool, part func(out []byte, segs [][]byte, k int), done func(out []byte, segs [][]byte, answered, need int))
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(reqs []byte, n int, done func(out []byte))

// ServeBatch calls f(reqs, n, done).
func (f HandlerFunc) ServeBatch(reqs []byte, n int, done func(out []byte)) { f(reqs, n, done) }

// ConnObserver is implemented by handlers that count connections (Flink's
// KvStateRequestStats does). The server calls ConnOpened when it accepts
// a connection within its limits and ConnClosed when that connection
// closes, from event loops.
type ConnObserver interface {
	ConnOpened()
	ConnClosed()
}

// Lifecycle states of a Server.
const (
	stateNew int32 = iota
	stateServing
	stateShutdown
	stateClosed
)

// Server serves one port with gnet: framing, dispatch to a Handler,
// batched and chunked writes, backpressure, limits and shutdown. Create it
// with New; it serves once.
type Server struct {
	cfg   Config
	host  string
	ports []int
	h     Handler
	ph    PartHandler // h, when it answers within a budget and in parts
	obs   ConnObserver
	log   zerolog.Logger

	state atomic.Int32

	mu     sync.Mutex // guards eng, booted, conns, adm
	eng    gnet.Engine
	booted bool
	conns  map[*conn]struct{}
	adm    admission // unproven connections (lockout.go)

	addr      atomic.Pointer[net.TCPAddr]
	ready     chan struct{} // closed once listening, or when Serve returns
	readyOnce sync.Once
	served    chan struct{} // closed when Serve returns (or when it can no longer run)
	servedOne sync.Once
	idle      chan struct{} // kicked when a connection closes or a batch is released during shutdown
	stopOnce  sync.Once

	watch    watcher
	writable writable // wakes connections whose socket can take more (writable_linux.go)
	batches  batchPool
	ctr      counters
	drains   sync.WaitGroup // connections handed over after a half-close (halfclose.go)

	// Failures the server answers requests with by itself (Java-serialized
	// RuntimeExceptions): pushback past MaxInbound, and requests read
	// while shutting down.
	pushback, closing, overloaded []byte

	buffered atomic.Int64 // bytes the connections hold, as they last accounted them (budget.go)
	building atomic.Int64 // answer budgets of the batches with the handler (budget.go)

	lastLimitLog atomic.Int64 // unix nanos of the last conn-limit log line
	guard        serverGuard  // connection ids, log rate, idle sweeps (idle.go)

	testOnBoot func(gnet.Engine)         // tests: called in OnBoot, on Serve's goroutine
	testRaw    func(rawWriter) rawWriter // tests: wraps each connection's socket writer (newConn)
}

// New returns a server for cfg (defaults applied to a copy) that hands
// requests to h. It returns an error wrapping ErrConfig when cfg is
// invalid, and panics when h is nil (a set-up bug).
func New(cfg Config, h Handler) (*Server, error) {
	if h == nil {
		panic("server: nil Handler")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	host, ports, err := parseAddr(cfg.Addr)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:    cfg,
		host:   host,
		ports:  ports,
		h:      h,
		log:    cfg.Logger.With().Str("server", cfg.Name).Logger(),
		conns:  make(map[*conn]struct{}),
		ready:  make(chan struct{}),
		served: make(chan struct{}),
		idle:   make(chan struct{}, 1),
	}
	s.obs, _ = h.(ConnObserver)
	s.ph, _ = h.(PartHandler)
	s.pushback, s.closing = ownFailures(cfg)
	s.overloaded = overloadedPayload(cfg)
	s.watch.init(cfg.DrainPoll)
	s.writable.off()
	s.batches.s = s
	s.guard.init(cfg)
	return s, nil
}

// Serve listens on the first port of Config.Addr that binds and serves
// until Shutdown or Close, then returns ErrServerClosed. It returns an
// error wrapping ErrPortsInUse when no port binds, and one wrapping
// ErrEngineStopped when gnet's engine stops by itself (for example after an
// accept error). A Server serves once: a second call returns ErrServerClosed.
func (s *Server) Serve() error {
	if !s.state.CompareAndSwap(stateNew, stateServing) {
		return ErrServerClosed
	}
	defer s.markServed()
	defer s.markReady()

	var wg sync.WaitGroup
	s.writable.init()
	wg.Go(s.watch.run)
	wg.Go(s.writable.run)
	defer func() {
		s.watch.stop()
		s.writable.stop()
		wg.Wait()
	}()

	opts := []gnet.Option{
		gnet.WithNumEventLoop(s.cfg.EventLoops),
		gnet.WithReuseAddr(true),
		gnet.WithReusePort(false), // one listener: port 0 means one port
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogger(gnetLogger{log: s.log, s: s}),
		gnet.WithTicker(true), // OnTick sweeps idle and stalled connections (idle.go)
	}
	if s.cfg.SocketSendBuffer > 0 {
		opts = append(opts, gnet.WithSocketSendBuffer(s.cfg.SocketSendBuffer))
	}
	var lastErr error
	for _, port := range s.ports {
		if s.state.Load() != stateServing {
			return ErrServerClosed
		}
		addr := "tcp://" + net.JoinHostPort(s.host, strconv.Itoa(port))
		err := gnet.Run(events{s}, addr, opts...)
		s.mu.Lock()
		booted := s.booted
		s.mu.Unlock()
		if booted {
			if st := s.state.Load(); st == stateShutdown || st == stateClosed {
				s.log.Info().Msg("stopped")
				return ErrServerClosed
			}
			if err == nil {
				err = errors.New("gnet.Run returned without an error")
			}
			s.log.Error().Err(err).Msg("network engine stopped unexpectedly")
			return fmt.Errorf("%w: %w", ErrEngineStopped, err)
		}
		if !errors.Is(err, unix.EADDRINUSE) {
			return fmt.Errorf("server %s: listen %s: %w", s.cfg.Name, addr, err)
		}
		lastErr = err
	}
	return fmt.Errorf("%w: %s (%s): %w", ErrPortsInUse, s.cfg.Addr, s.cfg.Name, lastErr)
}

// Ready returns a channel closed once the server listens (Addr is then
// set) or Serve has returned without listening.
func (s *Server) Ready() <-chan struct{} { return s.ready }

func (s *Server) markReady() { s.readyOnce.Do(func() { close(s.ready) }) }

func (s *Server) markServed() { s.servedOne.Do(func() { close(s.served) }) }

// Addr returns the bound address, or nil before the server listens.
func (s *Server) Addr() *net.TCPAddr { return s.addr.Load() }

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	st := s.ctr.snapshot()
	st.Buffered = s.buffered.Load()
	return st
}

// Shutdown stops accepting connections (new ones are closed at once) and
// stops dispatching requests; it lets every request already dispatched be
// answered and every answer be written, closes each connection once it has
// nothing left, then stops the engine and returns when Serve's goroutines
// and every batch are released. If ctx ends first it calls Close and
// returns ctx.Err(). Serve then returns ErrServerClosed. Shutdown of a
// server that never served returns nil at once.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.state.CompareAndSwap(stateNew, stateClosed) {
		s.markReady()
		s.markServed()
		return nil
	}
	if !s.state.CompareAndSwap(stateServing, stateShutdown) && s.state.Load() == stateClosed {
		<-s.served
		return nil
	}
	s.log.Info().Int64("conns", s.ctr.conns.Load()).Int64("in_flight", s.ctr.inFlight.Load()).Msg("shutting down")
	s.wakeAll()
	linger := time.NewTicker(shutdownLingerQuiet / 4) // closes half-closed connections (shutdown.go)
	defer linger.Stop()
	for s.ctr.conns.Load() > 0 || s.ctr.inFlight.Load() > 0 {
		select {
		case <-s.idle:
		case <-linger.C:
			s.sweep()
		case <-ctx.Done():
			_ = s.Close()
			return ctx.Err()
		}
	}
	s.stopEngine()
	select {
	case <-s.served:
		s.drains.Wait() // the half-closed connections are done (conns counted them)
		return nil
	case <-ctx.Done():
		_ = s.Close()
		return ctx.Err()
	}
}

// Close stops the server at once: the engine stops and every connection
// closes, with whatever was in flight unanswered. It returns when Serve has
// returned. Batches still with the handler are released when it answers them.
func (s *Server) Close() error {
	switch s.state.Swap(stateClosed) {
	case stateNew:
		s.markReady()
		s.markServed()
		return nil
	case stateClosed:
		<-s.served
		return nil
	}
	s.stopEngine()
	<-s.served
	s.drains.Wait() // half-closed connections stop within a second or a send timeout
	return nil
}

// stopEngine asks gnet's engine to stop without waiting for it (Engine.Stop
// polls every 500 ms; Serve's return is the signal we wait on). If the
// engine has not booted yet, OnBoot sees the state and stops it.
func (s *Server) stopEngine() {
	s.mu.Lock()
	eng, booted := s.eng, s.booted
	s.mu.Unlock()
	if !booted {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = eng.Stop(ctx) // returns ctx.Err() or ErrEngineInShutdown; the stop is under way
}

// wakeAll wakes every open connection's event loop task, so each re-checks
// its state (used when shutting down).
func (s *Server) wakeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for cs := range s.conns {
		cs.wake()
	}
}

// kickIdle tells a waiting Shutdown to re-check.
func (s *Server) kickIdle() {
	select {
	case s.idle <- struct{}{}:
	default:
	}
}

// logConnLimit logs a refused connection at most once a second.
func (s *Server) logConnLimit() {
	now := time.Now().UnixNano()
	last := s.lastLimitLog.Load()
	if now-last < int64(time.Second) || !s.lastLimitLog.CompareAndSwap(last, now) {
		return
	}
	s.log.Warn().Int("max_conns", s.cfg.MaxConns).Int64("refused_total", s.ctr.closed[CloseConnLimit].Load()).
		Msg("connection limit reached: refusing connections")
}

// events is the gnet.EventHandler of a Server (a separate type keeps the
// callbacks out of Server's method set).
type events struct{ s *Server }

// OnBoot records the engine and the bound address.
func (e events) OnBoot(eng gnet.Engine) gnet.Action {
	s := e.s
	addr := boundAddr(eng)
	s.mu.Lock()
	s.eng, s.booted = eng, true
	st := s.state.Load()
	s.mu.Unlock()
	if addr != nil {
		s.addr.Store(addr)
	}
	if s.testOnBoot != nil {
		s.testOnBoot(eng)
	}
	if st != stateServing {
		return gnet.Shutdown
	}
	s.log.Info().Str("addr", addr.String()).Int("event_loops", s.cfg.EventLoops).Msg("listening")
	s.markReady()
	return gnet.None
}

// boundAddr returns the address the engine's listener is bound to (port 0
// resolved), from a duplicate of its descriptor.
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

// OnShutdown runs when the engine stops, before the last OnClose calls.
func (e events) OnShutdown(gnet.Engine) {}

// OnOpen admits a connection or closes it (shutting down, over MaxConns).
func (e events) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	s := e.s
	s.ctr.accepted.Add(1)
	if s.state.Load() != stateServing {
		s.ctr.closed[CloseShutdown].Add(1)
		s.reportRefused(CloseShutdown)
		return nil, gnet.Close
	}
	cs := newConn(s, c)
	s.mu.Lock()
	victims, refused := s.admit(cs, addrOf(c.RemoteAddr()), s.ctr.conns.Load() >= int64(s.cfg.MaxConns))
	if !refused {
		s.ctr.conns.Add(1)
		s.conns[cs] = struct{}{}
	}
	s.mu.Unlock()
	closeVictims(victims)
	if refused {
		s.ctr.closed[CloseConnLimit].Add(1)
		s.logConnLimit()
		s.reportRefused(CloseConnLimit)
		return nil, gnet.Close
	}
	s.opened(cs, c)
	s.reportState(cs.guard.id, ConnNew, 0)
	c.SetContext(cs)
	if s.obs != nil {
		s.obs.ConnOpened()
	}
	if s.state.Load() != stateServing {
		// Shutdown began after the check above; its wakeAll may have missed
		// this connection (it is registered now, under the same lock).
		cs.setReason(CloseShutdown)
		return nil, gnet.Close
	}
	return nil, gnet.None
}

// OnClose releases what the connection held and counts why it closed.
func (e events) OnClose(c gnet.Conn, err error) gnet.Action {
	s := e.s
	cs, _ := c.Context().(*conn)
	if cs == nil {
		return gnet.None // refused in OnOpen, already counted
	}
	s.writable.forget(cs)       // while the descriptor is still open
	if s.handOver(cs, c, err) { // half-closed with answers owed (halfclose.go)
		s.forget(cs)
		s.mu.Lock()
		delete(s.conns, cs)
		s.mu.Unlock()
		return gnet.None
	}
	reason := cs.reason
	switch {
	case cs.reasonSet:
	case cs.evicted.Load():
		reason = CloseEvicted
	case cs.shed.Load():
		reason = CloseShed
	default:
		reason = closeReasonOf(err, s.state.Load())
	}
	cs.release()
	s.forget(cs)
	s.mu.Lock()
	delete(s.conns, cs)
	s.mu.Unlock()
	s.ctr.conns.Add(-1)
	s.ctr.closed[reason].Add(1)
	if s.obs != nil {
		s.obs.ConnClosed()
	}
	s.logClosed(cs, reason, err)
	s.reportState(cs.guard.id, ConnClosed, reason)
	if s.state.Load() != stateServing {
		s.kickIdle()
	}
	return gnet.None
}

// closeReasonOf classifies a close the server did not ask for: a failed
// write of ours, or else the peer (EOF, reset) or the engine stopping.
func closeReasonOf(err error, state int32) CloseReason {
	var se *os.SyscallError
	switch {
	case err == nil && state != stateServing:
		return CloseShutdown
	case errors.As(err, &se) && (se.Syscall == "write" || se.Syscall == "writev") &&
		!errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET):
		return CloseWriteError
	}
	return ClosePeer
}

// OnTraffic serves the connection: new bytes arrived, or a Wake asked to
// write answers, resume after backpressure, or re-check during shutdown.
func (e events) OnTraffic(c gnet.Conn) gnet.Action {
	cs, _ := c.Context().(*conn)
	if cs == nil {
		return gnet.Close
	}
	act := cs.serve()
	if act == gnet.None {
		cs.account()
	}
	return act
}

// OnTick sweeps idle and stalled connections and sums up suppressed logs
// (idle.go; gnet's ticker goroutine). The drain watcher has its own.
func (e events) OnTick() (time.Duration, gnet.Action) { return e.s.tick(), gnet.None }
