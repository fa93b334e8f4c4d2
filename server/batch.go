package server

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/qstate/qstate/bufpool"
	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/internal/freelist"
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
// A part (isPart) carries answers a PartHandler handed over before the
// rest of its batch: no requests, only out and the count k of answers.
type batch struct {
	cs     *conn
	in     []byte   // whole REQUEST frames (bufpool), read by the handler until done
	n      int      // frames in in (a part: answers in out)
	out    []byte   // answers (bufpool), set by done
	segs   [][]byte // with lent bytes: the answers in order, pieces of out and lent values (PartHandler)
	off    int      // bytes of out a worker wrote directly before handing the rest to the loop
	limit  int      // answer bytes the handler may build (reserved on the connection until finish)
	isPart bool     // a part of another batch's answers (no requests)
	state  atomic.Int32
	parted atomic.Int32 // requests answered by parts so far
	// answered and need are set by done: requests answered in all (parts
	// included; the frames after them are deferred) and the answer size of
	// the first deferred one.
	answered, need int

	done   func(out []byte)                                    // b.answer, bound once so dispatch does not allocate
	doneN  func(out []byte, segs [][]byte, answered, need int) // b.answerN, the same for a PartHandler
	partFn func(out []byte, segs [][]byte, k int)              // b.answerPart
}

// answer is the done callback of a plain Handler (any goroutine): every
// request is answered.
func (b *batch) answer(out []byte) { b.answerN(out, nil, b.n, 0) }

// answerN is the done callback of a PartHandler (any goroutine).
func (b *batch) answerN(out []byte, segs [][]byte, answered, need int) {
	b.out = out
	b.segs = append(b.segs[:0], segs...)
	b.answered = min(max(answered, int(b.parted.Load())), b.n)
	b.need = need
	if b.state.CompareAndSwap(batchServing, batchEarly) {
		return // the event loop picks it up when ServeBatch returns
	}
	if !b.state.CompareAndSwap(batchDispatched, batchCompleted) {
		panic("server: Handler called done twice for one batch")
	}
	b.cs.complete(b)
}

// answerPart takes answers to k requests of the batch, handed over
// before the rest (any goroutine, before done): they go out as a batch of
// their own.
func (b *batch) answerPart(out []byte, segs [][]byte, k int) {
	if k <= 0 {
		if out != nil {
			bufpool.Put(out)
		}
		return
	}
	b.parted.Add(int32(k))
	p := b.cs.s.batches.getPart(b.cs, out, k)
	p.segs = append(p.segs[:0], segs...)
	b.cs.complete(p)
}

// dispatch hands b to the handler with an answer budget of limit bytes
// (first: answer the first request whatever its size). It reports whether
// the handler answered before returning, in which case the caller (the
// event loop) finishes b.
func (s *Server) dispatch(b *batch, limit int, first bool) (early bool) {
	s.ctr.requests.Add(int64(b.n))
	s.ctr.batches.Add(1)
	s.ctr.bytesIn.Add(int64(len(b.in)))
	b.limit = limit
	s.building.Add(int64(limit))
	b.state.Store(batchServing)
	if s.ph != nil {
		if !first && limit <= 0 {
			limit = 0
		}
		s.ph.ServeParts(b.in, b.n, limit, first, b.partFn, b.doneN)
	} else {
		s.h.ServeBatch(b.in, b.n, b.done)
	}
	return !b.state.CompareAndSwap(batchServing, batchDispatched)
}

// keepDeferred keeps the requests of b its handler did not answer for a later
// dispatch (event loop, at finish): they move to the front of b.in.
func (b *batch) keepDeferred() {
	off := 0
	for range b.answered {
		if len(b.in)-off < codec.LengthLen {
			break
		}
		off += codec.LengthLen + int(binary.BigEndian.Uint32(b.in[off:]))
	}
	off = min(off, len(b.in))
	b.cs.s.building.Add(-int64(b.limit))
	k := copy(b.in, b.in[off:])
	b.in = b.in[:k]
	b.n -= b.answered
	b.out, b.off, b.answered, b.limit = nil, 0, 0, 0
	clear(b.segs)
	b.segs = b.segs[:0]
	b.parted.Store(0)
	b.state.Store(batchIdle)
}

// batchPool is the free list of batches (see package freelist: steady
// state allocates nothing even across collections).
type batchPool struct {
	s    *Server
	free freelist.List[batch]
}

func (p *batchPool) pop() *batch {
	b := p.free.Get()
	if b == nil {
		b = new(batch)
		b.done = b.answer
		b.doneN = b.answerN
		b.partFn = b.answerPart
	}
	p.s.ctr.inFlight.Add(1)
	return b
}

// get returns a batch for cs holding a copy of frames (n of them) in a
// bufpool buffer: the one copy of request bytes out of gnet's buffer.
func (p *batchPool) get(cs *conn, frames []byte, n int) *batch {
	b := p.pop()
	b.cs = cs
	b.in = append(bufpool.Get(len(frames)), frames...)
	b.n = n
	return b
}

// getPart returns a part: answers to k requests of a batch of cs.
func (p *batchPool) getPart(cs *conn, out []byte, k int) *batch {
	b := p.pop()
	b.cs, b.out, b.n, b.answered, b.isPart = cs, out, k, k, true
	return b
}

// release returns b's buffers to bufpool and b to the free list.
func (p *batchPool) release(b *batch) {
	if b.limit != 0 {
		p.s.building.Add(-int64(b.limit))
	}
	if b.in != nil {
		bufpool.Put(b.in)
	}
	if b.out != nil {
		bufpool.Put(b.out)
	}
	clear(b.segs) // drop the lent bytes
	b.cs, b.in, b.n, b.out, b.off, b.limit, b.isPart, b.segs = nil, nil, 0, nil, 0, 0, false, b.segs[:0]
	b.answered, b.need = 0, 0
	b.parted.Store(0)
	b.state.Store(batchIdle)
	p.free.Put(b)
	if p.s.ctr.inFlight.Add(-1) == 0 && p.s.state.Load() != stateServing {
		p.s.kickIdle()
	}
}
