package server

import (
	"math"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/rs/zerolog"

	"github.com/qstate/qstate/codec"
)

// Server-wide memory budget (Config.MaxBufferedTotal).
//
// Per-connection limits bound one connection; MaxConns of them still
// multiply. So each connection's buffered bytes (requests in gnet's
// inbound buffer and deferred, answers queued and being built) are summed into Server.buffered, updated at the end of
// every event-loop pass over the connection (one atomic add, no
// allocation). Answers being built are counted apart, server-wide: the
// answer budgets of the batches with the handler (Server.building), and a
// batch's budget is at most half of what the server's budget has left
// (conn.batchLimit), so that requests pipelined on many connections do not
// build their answers all at once past it. Past the budget, requests newly read are answered at once
// with the overloaded failure instead of being dispatched, and the ticker
// sheds the connections holding the most (CloseShed) until the sum is
// back under it: a flood of non-readers costs the server at most the
// budget, not MaxConns times MaxOutbound.

// budgetEvery is how often the ticker looks at the budget: the time a
// flood has to overshoot it before the largest holders are shed.
const budgetEvery = 50 * time.Millisecond

// Bounds of the derived default budget (DefaultMaxBufferedTotal).
const (
	minDefaultBuffered = 32 << 20
	maxDefaultBuffered = 256 << 20
)

// DefaultMaxBufferedTotal is the budget a zero Config.MaxBufferedTotal
// takes: a sixteenth of the process's memory limit (Go's soft limit,
// GOMEMLIMIT or debug.SetMemoryLimit, when one is set; else the machine's
// memory), between 32 MiB and 256 MiB. Buffers are bufpool's, rounded up
// to a power of two, and the garbage collector lets the heap grow past
// what is live: the bytes a budget pins cost up to about four times as
// much resident memory (README, "Memory").
func DefaultMaxBufferedTotal() int64 {
	limit := debug.SetMemoryLimit(-1)
	if limit <= 0 || limit == math.MaxInt64 {
		limit = machineMemory()
		if limit <= 0 {
			limit = 4 << 30
		}
	}
	return min(max(limit/16, minDefaultBuffered), maxDefaultBuffered)
}

// account brings the connection's share of Server.buffered up to date
// (event loop, after each pass; release takes it back).
func (cs *conn) account() {
	n := int64(cs.queued + cs.qoff - cs.lent + cs.nc.InboundBuffered())
	for _, b := range cs.deferred {
		n += int64(len(b.in))
	}
	if old := cs.accounted.Swap(n); n != old {
		cs.s.buffered.Add(n - old)
	}
}

// unaccount takes back the connection's share (when it closes).
func (cs *conn) unaccount() {
	if n := cs.accounted.Swap(0); n != 0 {
		cs.s.buffered.Add(-n)
	}
}

// overBudget reports whether the server holds more than its budget.
func (s *Server) overBudget() bool {
	return s.cfg.MaxBufferedTotal > 0 && s.buffered.Load() > s.cfg.MaxBufferedTotal
}

// shed closes the connections holding the most until what they hold
// brings the server back under its budget (gnet's ticker goroutine).
func (s *Server) shed() {
	over := s.buffered.Load() - s.cfg.MaxBufferedTotal
	if s.cfg.MaxBufferedTotal <= 0 || over <= 0 {
		return
	}
	s.mu.Lock()
	list := s.guard.shedList[:0]
	for cs := range s.conns {
		if !cs.shed.Load() && cs.accounted.Load() > 0 {
			list = append(list, cs)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(list, func(a, b *conn) int {
		x, y := a.accounted.Load(), b.accounted.Load()
		switch {
		case x > y:
			return -1
		case x < y:
			return 1
		}
		return 0
	})
	freed := int64(0)
	for _, cs := range list {
		if freed >= over {
			break
		}
		held := cs.accounted.Load()
		freed += held
		cs.shed.Store(true)
		s.limitedLog(zerolog.WarnLevel).Uint64("conn", cs.guard.id).Stringer("remote", cs.guard.remote).
			Int64("held", held).Int64("buffered_total", s.buffered.Load()).Int64("max_buffered_total", s.cfg.MaxBufferedTotal).
			Msg("server over its memory budget: shedding the connection holding the most")
		if gc, ok := cs.nc.(gnet.Conn); ok {
			_ = gc.Close() // on its loop; OnClose counts it CloseShed
		}
	}
	clear(list)
	s.guard.shedList = list[:0]
}

// Returning memory after a burst: the buffers a burst used become garbage
// once it drains (bufpool's pool keeps some; the rest waits for a
// collection, and the heap's pages for the scavenger), so the resident
// memory of a burst stays for minutes when nothing else allocates (bufpool
// keeps its buffers through one collection). Once
// the bytes buffered have gone down from a peak of at least
// freeAfterPeak to under an eighth of it, the ticker returns them at once
// (debug.FreeOSMemory: a collection and a scavenge), at most every
// freeEvery.
const (
	freeAfterPeak = 64 << 20
	freeEvery     = 5 * time.Second
)

// returnMemory frees the memory of a burst once it drained (ticker).
func (s *Server) returnMemory(now time.Time) {
	g := &s.guard
	cur := s.buffered.Load() + s.building.Load()
	if cur > g.peakBuffered {
		g.peakBuffered = cur
	}
	if g.peakBuffered < freeAfterPeak || cur > g.peakBuffered/8 || now.Sub(g.lastFree) < freeEvery {
		return
	}
	peak := g.peakBuffered
	g.peakBuffered, g.lastFree = cur, now
	runtime.GC()         // bufpool's pools keep their buffers one collection more (sync.Pool's victim cache)
	debug.FreeOSMemory() // a second collection, then the heap's free pages go back to the system
	s.log.Info().Int64("peak_buffered", peak).Dur("took", time.Since(now)).
		Msg("buffers drained after a burst: memory returned to the system")
}

// overloadedPayload is the failure requests get while the server is over
// its budget.
func overloadedPayload(cfg Config) []byte {
	return codec.MustAppendThrowable(nil, codec.NewRuntimeException("qstate "+cfg.Name+
		" server overloaded: buffered requests and answers exceed max-buffered-total ("+
		strconv.FormatInt(cfg.MaxBufferedTotal, 10)+" bytes); request rejected, retry later.", nil))
}
