package server

import (
	"sync"
	"sync/atomic"

	"github.com/qstate/qstate/bufpool"
)

// Batch states: the handoff between the event loop that dispatches a batch
// and whoever calls its done (I3 in doc.go).
const (
	batchIdle       int32 = iota // in the free list
	batchServing                 // ServeBatch is running
	batchEarly                   // done was called before ServeBatch returned
	batchDispatched              // ServeBatch returned without done having been called
	batchCompleted               // done was called after ServeBatch returned
)

// batch is the requests of one wake-up of one connection and, once
// answered, their answers. Batches are pooled: one per in-flight handoff.
type batch struct {
	cs    *conn
	in    []byte // whole REQUEST frames (bufpool), read by the handler until done
	n     int    // frames in in
	out   []byte // answers (bufpool), set by done
	off   int    // bytes of out a worker wrote directly before handing the rest to the loop
	state atomic.Int32
	done  func(out []byte) // b.answer, bound once so dispatch does not allocate
}

// answer is the done callback the handler calls (any goroutine).
func (b *batch) answer(out []byte) {
	b.out = out
	if b.state.CompareAndSwap(batchServing, batchEarly) {
		return // the event loop picks it up when ServeBatch returns
	}
	if !b.state.CompareAndSwap(batchDispatched, batchCompleted) {
		panic("server: Handler called done twice for one batch")
	}
	b.cs.complete(b)
}

// dispatch hands b to the handler. It reports whether the handler answered
// before returning, in which case the caller (the event loop) finishes b.
func (s *Server) dispatch(b *batch) (early bool) {
	s.ctr.requests.Add(int64(b.n))
	s.ctr.batches.Add(1)
	s.ctr.bytesIn.Add(int64(len(b.in)))
	b.state.Store(batchServing)
	s.h.ServeBatch(b.in, b.n, b.done)
	return !b.state.CompareAndSwap(batchServing, batchDispatched)
}

// batchPool is a free list of batches. A mutex-guarded stack rather than a
// sync.Pool: the garbage collector never empties it, so steady state
// allocates nothing even across collections.
type batchPool struct {
	s    *Server
	mu   sync.Mutex
	free []*batch
}

// get returns a batch for cs holding a copy of frames (n of them) in a
// bufpool buffer: the one copy of request bytes out of gnet's buffer.
func (p *batchPool) get(cs *conn, frames []byte, n int) *batch {
	p.mu.Lock()
	var b *batch
	if k := len(p.free); k > 0 {
		b = p.free[k-1]
		p.free[k-1] = nil
		p.free = p.free[:k-1]
	}
	p.mu.Unlock()
	if b == nil {
		b = new(batch)
		b.done = b.answer
	}
	b.cs = cs
	b.in = append(bufpool.Get(len(frames)), frames...)
	b.n = n
	p.s.ctr.inFlight.Add(1)
	return b
}

// release returns b's buffers to bufpool and b to the free list.
func (p *batchPool) release(b *batch) {
	bufpool.Put(b.in)
	if b.out != nil {
		bufpool.Put(b.out)
	}
	b.cs, b.in, b.n, b.out, b.off = nil, nil, 0, nil, 0
	b.state.Store(batchIdle)
	p.mu.Lock()
	p.free = append(p.free, b)
	p.mu.Unlock()
	if p.s.ctr.inFlight.Add(-1) == 0 && p.s.state.Load() != stateServing {
		p.s.kickIdle()
	}
}
