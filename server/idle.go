package server

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/rs/zerolog"
)

// Idle and stalled connections (Config.IdleTimeout, Config.StallTimeout).
//
// No goroutine or timer per connection: gnet's ticker calls Server.tick
// (OnTick) every Config.sweepEvery, a quarter of the shorter timeout
// (Shutdown sweeps on its own, for lingering connections). A sweep asks each open connection's event loop to look at it (runCheck,
// through EventLoop.Execute): the state it needs (requests in flight,
// answers queued) belongs to that loop. The hot
// path pays one increment per finished batch (connGuard.finished).
//
// A look (checkQuiet) classifies the connection:
//   - busy: a request is with the handler, or a batch finished since the
//     last look. Both clocks restart.
//   - idle: nothing in flight and no answer waiting. Closed (CloseIdle)
//     once the last busy look is IdleTimeout old, unless the kernel holds
//     bytes the loop has not read yet (a loop running late must not close
//     a connection whose request arrived in time). A look happens at most
//     one sweep after any activity, so a connection closes between
//     IdleTimeout and IdleTimeout plus two sweeps (1.5*IdleTimeout) after
//     its last activity, never before.
//   - waiting: answers wait for the reader (queued, pending).
//     Without a finished batch the only change to those bytes is the
//     kernel taking some, so a smaller total means the reader read. Closed
//     (CloseSlowConsumer) once no look saw it read for StallTimeout.

// connGuard is a connection's state for the idle and stall timeouts and
// its identity in logs.
type connGuard struct {
	id     uint64   // names the connection in logs (set in OnOpen, then read-only)
	remote net.Addr // the peer's address (set in OnOpen, then read-only)

	// Event loop only.
	finished    uint64    // batches finished (conn.finish)
	seen        uint64    // finished as of the last look
	opened      time.Time // when the connection was accepted
	quietSince  time.Time // the last look that saw the connection busy, or its opening
	stallSince  time.Time // the last look that saw the reader take bytes
	pending     int       // answer bytes waiting at the last look; -1: none looked at since busy
	lingerSince time.Time // shutdown: when the server half-closed the connection (shutdown.go)
	lingerInput time.Time // shutdown: when the client last sent something while lingering
	drainLast   int       // pending bytes at the last drain watch (drain.go)
	drainStuck  int       // drain watches in a row without draining (drain.go)

	// Under serverGuard.sweepMu.
	check gnet.Runnable // cs.runCheck, bound once
}

// serverGuard is a Server's share of the hardening: connection ids, the
// log limiter and the sweeper's scratch.
type serverGuard struct {
	ids  atomic.Uint64 // last connection id handed out
	logs logLimiter

	sweepMu sync.Mutex // one sweep at a time (ticker or Shutdown)
	sweep   []*conn    // the connections of one sweep, under sweepMu

	// gnet's ticker goroutine only.
	lastSummary  time.Time // when the last "suppressed" summary was logged
	nextSweep    time.Time // when the next sweep is due
	shedList     []*conn   // scratch of shed (budget.go)
	peakBuffered int64     // most bytes buffered since memory was last returned (budget.go)
	lastFree     time.Time // when memory was last returned (budget.go)
}

func (g *serverGuard) init(cfg Config) { g.logs.init(cfg.LogRate) }

// opened gives a new connection its id and starts its clocks (OnOpen,
// event loop).
func (s *Server) opened(cs *conn, c gnet.Conn) {
	g := &cs.guard
	g.id = s.guard.ids.Add(1)
	g.remote = c.RemoteAddr()
	g.quietSince = time.Now()
	g.opened = g.quietSince
	g.stallSince = g.quietSince
	g.pending = -1
	s.log.Debug().Uint64("conn", g.id).Stringer("remote", g.remote).Int64("conns", s.ctr.conns.Load()).
		Msg("connection opened")
}

// tick is one sweep (OnTick, gnet's ticker goroutine). It returns the
// pause until the next one.
func (s *Server) tick() time.Duration {
	every := s.cfg.sweepEvery()
	now := time.Now()
	if s.state.Load() == stateServing && s.cfg.MaxBufferedTotal > 0 {
		s.shed() // budget.go
		s.returnMemory(now)
		every = min(every, budgetEvery)
	}
	if now.Before(s.guard.nextSweep) {
		return every
	}
	s.guard.nextSweep = now.Add(s.cfg.sweepEvery() - time.Millisecond)
	s.summarizeSuppressed()
	if s.state.Load() == stateServing && (s.cfg.IdleTimeout > 0 || s.cfg.StallTimeout > 0 || s.cfg.FrameTimeout > 0) {
		s.sweep() // while shutting down, Shutdown sweeps (lingering connections)
	}
	return every
}

// sweep asks every open connection's event loop to look at it (runCheck):
// OnTick's goroutine while serving, Shutdown's while shutting down.
func (s *Server) sweep() {
	s.guard.sweepMu.Lock()
	defer s.guard.sweepMu.Unlock()
	s.mu.Lock()
	list := s.guard.sweep[:0]
	for cs := range s.conns {
		list = append(list, cs)
	}
	s.mu.Unlock()
	for i, cs := range list {
		if gc, ok := cs.nc.(gnet.Conn); ok {
			if cs.guard.check == nil {
				cs.guard.check = gnet.RunnableFunc(cs.runCheck)
			}
			// Fails only once the engine shuts down: nothing left to sweep.
			_ = gc.EventLoop().Execute(context.Background(), cs.guard.check)
		}
		list[i] = nil
	}
	s.guard.sweep = list[:0]
}

// runCheck looks at the connection and closes it if it is idle or
// stalled, or, during shutdown, has lingered long enough (event loop,
// queued by tick). It always returns nil: gnet stops the loop on some
// errors.
func (cs *conn) runCheck(context.Context) error {
	if cs.settle() { // counts the batches workers wrote directly (conn.go)
		return nil // closed
	}
	now := time.Now()
	if cs.s.state.Load() != stateServing {
		if !cs.guard.lingerSince.IsZero() && cs.lingeredEnough(now) {
			cs.closeFor(CloseShutdown)
		}
		return nil
	}
	if r, ok := cs.checkFrames(now); ok {
		cs.s.log.Debug().Uint64("conn", cs.guard.id).Stringer("remote", cs.guard.remote).
			Bool("first_frame", !cs.adm.proven).Msg("no whole frame within FrameTimeout: closing")
		cs.closeFor(r)
		return nil
	}
	if r, ok := cs.checkQuiet(now); ok {
		cs.closeFor(r)
	}
	return nil
}

// checkQuiet looks at the connection at time now and reports whether it
// must close, and why (event loop). See the top of this file.
func (cs *conn) checkQuiet(now time.Time) (CloseReason, bool) {
	g, cfg := &cs.guard, &cs.s.cfg
	if cs.inflight > 0 || g.finished != g.seen {
		g.seen = g.finished
		g.quietSince, g.stallSince, g.pending = now, now, -1
		return 0, false
	}
	pending := cs.queued
	if pending == 0 {
		g.stallSince, g.pending = now, 0
		if cfg.IdleTimeout > 0 && now.Sub(g.quietSince) >= cfg.IdleTimeout {
			if unreadInKernel(cs.nc.Fd()) { // arrived, but the loop has not read it yet
				g.quietSince = now
				return 0, false
			}
			cs.s.log.Debug().Uint64("conn", g.id).Stringer("remote", g.remote).
				Dur("idle", now.Sub(g.quietSince)).Msg("idle connection: closing")
			return CloseIdle, true
		}
		return 0, false
	}
	g.quietSince = now // answers wait for the reader: not idle
	if g.pending < 0 || pending < g.pending {
		g.stallSince = now // first look since busy, or the reader took bytes
	}
	g.pending = pending
	if cfg.StallTimeout > 0 && now.Sub(g.stallSince) >= cfg.StallTimeout {
		cs.s.limitedLog(zerolog.WarnLevel).Uint64("conn", g.id).Stringer("remote", g.remote).
			Int("pending", pending).Dur("stalled", now.Sub(g.stallSince)).
			Int64("slow_consumers", cs.s.ctr.closed[CloseSlowConsumer].Load()+1).
			Msg("slow consumer: reader took no answer bytes for StallTimeout; closing")
		return CloseSlowConsumer, true
	}
	return 0, false
}

// closeFor closes the connection for r from outside a callback of its own
// (event loop: a task queued by tick). OnClose runs before it returns.
func (cs *conn) closeFor(r CloseReason) {
	cs.setReason(r)
	if gc, ok := cs.nc.(gnet.Conn); ok {
		_ = gc.EventLoop().Close(gc)
	}
}
