package server

import (
	"sync"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"
	"github.com/rs/zerolog"

	"golang.org/x/sys/unix"

	"github.com/qstate/qstate/bufpool"
	"github.com/qstate/qstate/codec"
)

// netConn is the part of gnet.Conn the server uses. All of it but Wake
// belongs to the connection's event loop. The in-process tests and
// benchmarks drive a conn through a fake of it.
type netConn interface {
	Peek(n int) ([]byte, error)
	Discard(n int) (int, error)
	InboundBuffered() int
	Write(p []byte) (int, error) // the SERVER_FAILURE frame before a close (fail)
	Wake(cb gnet.AsyncCallback) error
	Fd() int
}

// rawWriter writes to a connection's socket without gnet: what the event
// loop does with every answer (flush), and a pool worker with its own
// while the loop lets it (doc.go, "Direct writes"). The fakes of the
// in-process tests implement it; a gnet connection gets an fdWriter.
type rawWriter interface {
	rawWrite(p []byte) (int, error)
	rawWritev(bs [][]byte) (int, error)
}

// fdWriter writes to a socket descriptor. The socket is non-blocking: a
// write may take part of p, or fail with EAGAIN.
type fdWriter int

func (fd fdWriter) rawWrite(p []byte) (int, error) { return unix.Write(int(fd), p) }

func (fd fdWriter) rawWritev(bs [][]byte) (int, error) { return unix.Writev(int(fd), bs) }

// maxIov is the most answer buffers one write gathers (writev). Up to
// eight, golang.org/x/sys builds the iovec array on the stack.
const maxIov = 8

// qent is an entry of a connection's queue: bytes to write, and the
// bufpool buffer to give back once they are written (nil: none, or a later
// entry gives it back). Lent entries are bytes a PartHandler lent (a
// state's immutable value, PartHandler): written, never given back.
type qent struct {
	b, put []byte
	lent   bool
}

// conn is the server's state for one connection.
//
// Fields in the first group belong to the connection's event loop. The
// second group is shared with the goroutines that complete batches, under
// mu. watched belongs to the drain watcher.
type conn struct {
	s  *Server
	nc netConn

	// Event loop only.
	inflight    int                  // requests dispatched whose answers are not yet queued
	need        int                  // bytes the next frame needs to be whole (0: unknown)
	queue       []qent               // answers the kernel has not taken yet, oldest first
	qoff        int                  // bytes of queue[0] the kernel took
	queued      int                  // bytes in queue the kernel has not taken (pending)
	lent        int                  // bytes of the queue's lent entries (state bytes, not ours: budget.go)
	blocked     bool                 // pending went over the high watermark; waiting for the low one
	armed       bool                 // the socket is registered with Server.writable
	socketWakes bool                 // the queue waits for the socket, and its EPOLLOUT will wake the loop (flush)
	pending     bool                 // counted in Stats.Pending
	active      bool                 // last reported ConnActive (Config.ConnState)
	reason      CloseReason          // why the server closes the connection, if reasonSet
	reasonSet   bool                 //
	iov         [maxIov][]byte       // scratch for Writev
	spare       []*batch             // the completed list last taken, kept for its capacity
	owned       bool                 // the loop made itself the only writer (direct is off until letWorkersWrite)
	reserved    int                  // answer bytes the batches in flight may still build (their limits)
	deferred    []*batch             // requests a PartHandler left for later (no room for their answers), oldest first
	waitRoom    bool                 // decode stopped for want of answer room (budget), not for in-flight budget
	refusedAll  bool                 // shutting down: the last requests buffered were refused; later ones are dropped
	ending      bool                 // a broken frame came: answer what was read before it, then close (endIfDone)
	endReason   CloseReason          // why, once ending
	endExc      *codec.JavaException // the SERVER_FAILURE to send last (nil: close without a word)

	// Shared under mu.
	mu         sync.Mutex
	completed  []*batch      // batches answered off the loop, waiting for it
	wakeQueued bool          // a Wake for completed batches is on its way
	closed     bool          // OnClose ran: completions release their batch at once
	handedOver bool          // the peer half-closed: drain owns the connection (halfclose.go)
	drainKick  chan struct{} // wakes drain when a completion is queued
	direct     bool          // completions write their answers to the socket themselves (doc.go, "Direct writes")
	answered   int           // requests answered by direct writes, not yet counted off inflight by the loop
	unreserved int           // limits of batches finished by direct writes, not yet counted off reserved
	answeredB  uint64        // batches answered by direct writes, not yet counted in guard.finished

	raw rawWriter // the socket, for direct writes (set by newConn; used under mu while !closed)

	watched atomic.Bool // registered with the drain watcher

	guard connGuard // idle and stall timeouts, log identity (idle.go)

	adm       connAdmission // first frame, half-sent frames, eviction (lockout.go)
	evicted   atomic.Bool   // made way for a new connection (lockout.go)
	accounted atomic.Int64  // bytes counted in Server.buffered (budget.go)
	shed      atomic.Bool   // closed to bring the server under its budget (budget.go)
}

func newConn(s *Server, nc netConn) *conn {
	cs := &conn{s: s, nc: nc, direct: true}
	if rw, ok := nc.(rawWriter); ok {
		cs.raw = rw
	} else {
		cs.raw = fdWriter(nc.Fd())
	}
	if s.testRaw != nil {
		cs.raw = s.testRaw(cs.raw)
	}
	return cs
}

// serve is the connection's event loop task (OnTraffic): take the
// answered batches, write what the watermarks allow, then decode and
// dispatch whole frames unless the connection is under backpressure.
func (cs *conn) serve() gnet.Action {
	cs.collect()
	if !cs.flush() {
		return gnet.Close // a write failed (gnet closed it) or a slow consumer
	}
	if cs.s.state.Load() != stateServing {
		return cs.quiesce()
	}
	if act := cs.decode(); act != gnet.None {
		return act
	}
	if cs.ending {
		return cs.endIfDone()
	}
	cs.watchIfWaiting()
	cs.letWorkersWrite()
	if cs.active && cs.inflight == 0 && len(cs.queue) == 0 && len(cs.deferred) == 0 {
		cs.active = false
		cs.s.cfg.ConnState(cs.guard.id, ConnIdle, 0) // active is set only when ConnState is
	}
	return gnet.None
}

// collect takes the batches answered off the loop and queues their
// answers, and counts off the requests workers answered directly.
func (cs *conn) collect() { cs.take(false) }

// own makes the event loop the connection's only writer: from now on
// completions queue their answers for it, until letWorkersWrite. It
// collects too, so that the rest of an answer a worker wrote in part goes
// out before anything else.
func (cs *conn) own() {
	if !cs.owned {
		cs.take(true)
	}
}

// take is collect, and own when own is set (event loop).
func (cs *conn) take(own bool) {
	cs.mu.Lock()
	done := cs.completed
	cs.completed = cs.spare[:0]
	cs.wakeQueued = false
	answered, answeredB, unreserved := cs.answered, cs.answeredB, cs.unreserved
	cs.answered, cs.answeredB, cs.unreserved = 0, 0, 0
	if own {
		cs.direct = false
	}
	cs.mu.Unlock()
	if own || len(done) > 0 {
		cs.owned = true // a completion queues its batch only while direct is off
	}
	cs.inflight -= answered
	cs.reserved -= unreserved
	cs.guard.finished += answeredB
	for i, b := range done {
		cs.finish(b)
		done[i] = nil
	}
	cs.spare = done[:0]
}

// finish queues a batch's answers and releases the batch (event loop).
// A batch a worker wrote in part (b.off > 0) comes first, into an empty
// queue (I9): its worker wrote while direct was on, when nothing was
// queued, and the loop collects it before it queues anything else.
//
// The requests a PartHandler deferred stay with the batch, which waits in
// cs.deferred for room (decode dispatches it again).
func (cs *conn) finish(b *batch) {
	cs.inflight -= b.owes()
	cs.reserved -= b.limit
	cs.guard.finished++
	if len(b.segs) > 0 {
		cs.queueSegs(b)
		cs.advance(b.off) // what a worker wrote of it directly (I9: the queue was empty)
	} else if out := b.out; len(out) > b.off {
		if b.off > 0 {
			cs.qoff = b.off
		}
		cs.queue = append(cs.queue, qent{b: out, put: out})
		cs.queued += len(out) - b.off
		b.out = nil
	} else if out != nil {
		bufpool.Put(out)
		b.out = nil
	}
	if !b.isPart && b.answered < b.n {
		cs.s.ctr.requests.Add(-int64(b.n - b.answered)) // counted again when dispatched again
		b.keepDeferred()
		cs.deferred = append(cs.deferred, b)
		return
	}
	cs.s.batches.release(b)
}

// queueSegs queues the answers of a batch with lent bytes: its segments
// in order, the pieces of b.out and the lent values between them; the
// last entry gives b.out back (event loop). What a worker wrote of it
// directly (b.off) is then taken off the queue, which held nothing else.
func (cs *conn) queueSegs(b *batch) {
	last := len(b.segs) - 1
	for i, seg := range b.segs {
		e := qent{b: seg, lent: i%2 == 1}
		if i == last {
			e.put, b.out = b.out, nil
		}
		if len(seg) == 0 && e.put == nil {
			continue
		}
		cs.queue = append(cs.queue, e)
		cs.queued += len(seg)
		if e.lent {
			cs.lent += len(seg)
		}
	}
	clear(b.segs)
	b.segs = b.segs[:0]
}

// owes is the number of requests of cs.inflight that b's completion
// settles: a part's answers, or what the parts of a batch did not.
func (b *batch) owes() int {
	if b.isPart {
		return b.n
	}
	return b.n - int(b.parted.Load())
}

// letWorkersWrite turns direct writes back on once the loop has nothing
// to write and needs no wake-up from a completion: no answer queued, not
// under backpressure, in-flight budget left (event loop, at the end of
// serve).
func (cs *conn) letWorkersWrite() {
	if !cs.owned || len(cs.queue) > 0 || cs.blocked || cs.inflight >= cs.s.cfg.MaxInFlight ||
		(cs.waitRoom && cs.inflight > 0) {
		return
	}
	cs.mu.Lock()
	if len(cs.completed) == 0 { // else a Wake is on its way: the loop writes those first
		cs.direct, cs.owned = true, false
	}
	cs.mu.Unlock()
}

// settle counts off the requests workers answered with direct writes
// since the loop last looked, and reports whether the connection closed
// (event loop: the idle sweep's look).
func (cs *conn) settle() (closed bool) {
	cs.mu.Lock()
	if cs.closed || cs.handedOver { // a look queued before OnClose: the connection is not the loop's any more
		cs.mu.Unlock()
		return true
	}
	answered, answeredB, unreserved := cs.answered, cs.answeredB, cs.unreserved
	cs.answered, cs.answeredB, cs.unreserved = 0, 0, 0
	closed = cs.closed
	cs.mu.Unlock()
	cs.inflight -= answered
	cs.reserved -= unreserved
	cs.guard.finished += answeredB
	return closed
}

// held reports whether the connection's requests must wait: its pending
// answers are over the high watermark (until they drain below the low
// one).
func (cs *conn) held() bool {
	return cs.blocked || cs.queued >= cs.s.cfg.HighWatermark
}

// flush writes queued answers to the socket itself, oldest first, up to
// maxIov entries per writev, until the queue is empty or the kernel takes
// less than it was offered (its buffer is full: the rest waits for the
// socket's EPOLLOUT, writable, or the drain watcher's next look). gnet's
// outbound buffer is never used for answers, so it stays empty: what the
// kernel has not taken is always in the queue, where a half-closed
// connection's drain can still write it (halfclose.go, I5). A connection
// whose queue stays at or over the high watermark is under backpressure
// until it falls to the low one. It returns false when a write failed
// (the caller closes the connection).
func (cs *conn) flush() bool {
	if len(cs.queue) == 0 && !cs.blocked {
		return true // most passes: workers wrote the answers
	}
	cfg := &cs.s.cfg
	for len(cs.queue) > 0 {
		if cs.qoff == len(cs.queue[0].b) { // an empty entry (a batch's last piece after a lent value)
			cs.advance(0)
			continue
		}
		k, want := cs.gather()
		var n int
		var err error
		if k == 1 {
			n, err = cs.raw.rawWrite(cs.iov[0])
		} else {
			n, err = cs.raw.rawWritev(cs.iov[:k])
		}
		clear(cs.iov[:k])
		if err != nil && err != unix.EAGAIN {
			if err != unix.EPIPE && err != unix.ECONNRESET {
				cs.setReason(CloseWriteError)
			}
			return false // the caller closes the connection
		}
		if n <= 0 {
			break
		}
		cs.s.ctr.bytesOut.Add(int64(n))
		cs.advance(n)
		if n < want {
			break // the kernel's buffer is full
		}
	}
	cs.socketWakes = len(cs.queue) > 0 && cs.s.writable.arm(cs) // a wake-up once the socket takes more
	switch {
	case cs.blocked && cs.queued <= cfg.LowWatermark:
		cs.blocked = false
		cs.s.ctr.backpressured.Add(-1)
		cs.s.log.Debug().Uint64("conn", cs.guard.id).Int("queued", cs.queued).Msg("connection drained: resuming")
	case !cs.blocked && cs.queued >= cfg.HighWatermark:
		cs.blocked = true
		cs.s.ctr.backpressured.Add(1)
		cs.s.ctr.backpressureStarts.Add(1)
		cs.s.log.Debug().Uint64("conn", cs.guard.id).Int("queued", cs.queued).Msg("connection over high watermark: backpressure")
	}
	cs.s.ctr.observeOutbound(cs.queued)
	return true
}

// gather puts the queue's first entries, the rest of the head first, into
// cs.iov and returns how many (up to maxIov) and their bytes (event loop).
func (cs *conn) gather() (k, size int) {
	k = min(maxIov, len(cs.queue))
	cs.iov[0] = cs.queue[0].b[cs.qoff:]
	size = len(cs.iov[0])
	for i := 1; i < k; i++ {
		cs.iov[i] = cs.queue[i].b
		size += len(cs.iov[i])
	}
	return k, size
}

// advance drops the first n bytes of the queue, which the kernel took,
// and every entry they complete, empty ones at the head included (event
// loop, or drain's goroutine).
func (cs *conn) advance(n int) {
	for len(cs.queue) > 0 {
		rest := len(cs.queue[0].b) - cs.qoff
		if rest > n {
			cs.consume(n)
			return
		}
		cs.consume(rest)
		n -= rest
	}
}

// consume drops the first n bytes of the queue's head, which the kernel
// took: the head goes back to bufpool once all of it is written.
func (cs *conn) consume(n int) {
	cs.qoff += n
	cs.queued -= n
	if cs.qoff < len(cs.queue[0].b) {
		return
	}
	cs.done(&cs.queue[0])
	k := copy(cs.queue, cs.queue[1:])
	cs.queue[k] = qent{}
	cs.queue = cs.queue[:k]
	cs.qoff = 0
}

// done gives back what a written queue entry held (event loop).
func (cs *conn) done(e *qent) {
	if e.put != nil {
		bufpool.Put(e.put)
	}
	if e.lent {
		cs.lent -= len(e.b)
	}
}

// decode dispatches the whole frames buffered, as one batch per pass,
// while the connection is not under backpressure and has in-flight budget. A bad
// frame answers SERVER_FAILURE (when it deserves one) and closes.
func (cs *conn) decode() gnet.Action {
	cfg := &cs.s.cfg
	for !cs.held() {
		if cs.inflight >= cfg.MaxInFlight {
			if cs.owned {
				break // completions wake the loop
			}
			cs.own() // so that they do; it counts off those already written
			if !cs.flush() {
				return gnet.Close
			}
			continue
		}
		room, first := cs.answerRoom()
		cs.waitRoom = room < cfg.HighWatermark && !first
		if cs.waitRoom {
			// Answers waiting and being built fill MaxOutbound: wait for
			// the reader, or for the batches in flight (they wake the loop).
			if retry, act := cs.awaitCompletions(); act != gnet.None {
				return act
			} else if !retry {
				break
			}
			continue
		}
		if k := len(cs.deferred); k > 0 {
			b := cs.deferred[0]
			limit := cs.batchLimit(room, b.n, b.need)
			if (cs.inflight > 0 && cs.inflight+b.n > cfg.MaxInFlight) || (!first && b.need > limit) {
				cs.waitRoom = true
				if retry, act := cs.awaitCompletions(); act != gnet.None {
					return act
				} else if !retry {
					break
				}
				continue
			}
			copy(cs.deferred, cs.deferred[1:])
			cs.deferred[k-1] = nil
			cs.deferred = cs.deferred[:k-1]
			if !cs.send(b, limit, first) {
				return gnet.Close
			}
			continue
		}
		if cs.ending {
			break // nothing after a broken frame is read
		}
		avail := cs.nc.InboundBuffered()
		if avail == 0 || avail < cs.need {
			break
		}
		buf, err := cs.nc.Peek(avail) // avail > 0: Peek(0) would mean "everything"
		if err != nil {
			break
		}
		budget := cfg.MaxInFlight - cs.inflight
		off, n := 0, 0
		cs.need = 0
		for n < budget {
			f, size, err := codec.DecodeFrame(buf[off:], cfg.MaxFrameLen)
			if err != nil {
				cs.broken(buf[off:], err)
				break
			}
			if size == 0 {
				if ln, ok := codec.FrameLength(buf[off:]); ok {
					cs.need = codec.LengthLen + int(ln)
				}
				break
			}
			if f.Type != codec.Request {
				cs.end(CloseProtocol, codec.NewUnexpectedType(f.Type))
				break
			}
			off += size
			n++
		}
		if n == 0 {
			if cs.ending {
				continue // answer what was dispatched and deferred, then end
			}
			break
		}
		if cs.s.overBudget() { // the server holds too much: answer at once, dispatch nothing
			cs.own()
			used, k := cs.rejectFrames(buf[:off], 0, cs.s.overloaded)
			if _, err := cs.nc.Discard(used); err != nil {
				return gnet.Close
			}
			cs.adm.consumed += int64(used)
			cs.s.ctr.pushedBack.Add(int64(k))
			if !cs.adm.proven {
				cs.prove()
			}
			if !cs.flush() {
				return gnet.Close
			}
			continue
		}
		limit := cs.batchLimit(room, n, 0)
		b := cs.s.batches.get(cs, buf[:off], n)
		if _, err := cs.nc.Discard(off); err != nil {
			cs.s.batches.release(b)
			return gnet.Close
		}
		cs.adm.consumed += int64(off)
		if !cs.adm.proven {
			cs.prove()
		}
		if !cs.send(b, limit, first) {
			return gnet.Close
		}
	}
	if cs.ending {
		if n := cs.nc.InboundBuffered(); n > 0 {
			_, _ = cs.nc.Discard(n) // what follows a broken frame is not read
		}
		return gnet.None
	}
	if cs.nc.InboundBuffered() > cfg.MaxInbound {
		return cs.pushBack()
	}
	return gnet.None
}

// send dispatches b with an answer budget of limit bytes (first: answer
// its first request whatever the size), counting its requests in flight
// and its budget reserved; a batch the handler answered before dispatch
// returned (inline) is queued and written at once. It returns false when
// that write failed (event loop, decode).
func (cs *conn) send(b *batch, limit int, first bool) bool {
	cs.inflight += b.n
	cs.reserved += limit
	cs.reportActive()
	if early := cs.s.dispatch(b, limit, first); early {
		cs.own()
		cs.finish(b)
		return cs.flush()
	}
	return true
}

// pushBack answers the oldest requests buffered beyond MaxInbound with a
// retryable failure naming the limit (s.pushback), so that a client that
// pipelines faster than it is answered loses none (event loop). A
// connection whose answers waiting already fill MaxOutbound is not reading
// them: it closes as a slow consumer. One whose excess is not whole frames
// (cannot happen: MaxInbound holds a whole frame) closes for
// CloseInboundOverflow.
func (cs *conn) pushBack() gnet.Action {
	cfg := &cs.s.cfg
	cs.own()
	for {
		avail := cs.nc.InboundBuffered()
		excess := avail - cfg.MaxInbound
		if excess <= 0 {
			break
		}
		if pending := cs.queued + cs.qoff; pending >= cfg.MaxOutbound {
			cs.setReason(CloseSlowConsumer)
			cs.s.limitedLog(zerolog.WarnLevel).Uint64("conn", cs.guard.id).Stringer("remote", cs.guard.remote).
				Int("pending", pending).Int("inbound", avail).
				Msg("slow consumer: requests past MaxInbound while answers fill MaxOutbound; closing")
			return gnet.Close
		}
		buf, err := cs.nc.Peek(avail)
		if err != nil {
			return gnet.Close
		}
		used, n := cs.rejectFrames(buf, excess, cs.s.pushback)
		if n == 0 {
			cs.setReason(CloseInboundOverflow)
			return gnet.Close
		}
		if _, err := cs.nc.Discard(used); err != nil {
			return gnet.Close
		}
		cs.adm.consumed += int64(used)
		cs.s.ctr.pushedBack.Add(int64(n))
	}
	if !cs.flush() {
		return gnet.Close
	}
	cs.watchIfWaiting()
	return gnet.None
}

// rejectFrames queues a REQUEST_FAILURE carrying payload for each whole
// REQUEST frame at the start of buf, until at least want bytes of them
// are taken (want <= 0: all of them); it returns the bytes and frames
// taken (event loop, as the only writer: the caller owns the connection).
func (cs *conn) rejectFrames(buf []byte, want int, payload []byte) (used, n int) {
	maxLen := cs.s.cfg.MaxFrameLen
	for want <= 0 || used < want {
		f, size, err := codec.DecodeFrame(buf[used:], maxLen)
		if err != nil || size == 0 || f.Type != codec.Request {
			break
		}
		used += size
		n++
	}
	if n == 0 {
		return 0, 0
	}
	out := bufpool.Get(n * codec.RequestFailureFrameSize(len(payload)))
	for off := 0; off < used; {
		f, size, _ := codec.DecodeFrame(buf[off:], maxLen)
		out = codec.AppendRequestFailureFrame(out, f.RequestID, payload)
		off += size
	}
	cs.queue = append(cs.queue, qent{b: out, put: out})
	cs.queued += len(out)
	return used, n
}

// reportActive reports ConnActive if the connection was new or idle
// (Config.ConnState; event loop, before a dispatch).
func (cs *conn) reportActive() {
	if cs.s.cfg.ConnState != nil && !cs.active {
		cs.active = true
		cs.s.cfg.ConnState(cs.guard.id, ConnActive, 0)
	}
}

// answerRoom returns the answer bytes the next batch may build (limit),
// whether it must answer its first request whatever the size (first), and
// ok false when there is no room: the answers queued and being built (the limits of the batches in flight) leave less than a
// high watermark below MaxOutbound. A connection with nothing pending and
// nothing in flight always has room for one answer of any size (first),
// so that it makes progress; otherwise a batch gets half the room left,
// so that several can be in flight (event loop).
func (cs *conn) answerRoom() (room int, first bool) {
	cfg := &cs.s.cfg
	held := cs.queued + cs.qoff + cs.reserved
	return cfg.MaxOutbound - held, cs.inflight == 0 && held == 0
}

// batchLimit is the answer budget of a batch of n requests, given the
// room left: each request's share of MaxOutbound (MaxOutbound/MaxInFlight,
// 64 KiB by default), so that the budgets of all the requests in flight
// never exceed the limit and small answers never wait for room, or the
// size need of the first answer a deferred batch could not build, when
// the room holds it; never more than the room (event loop).
func (cs *conn) batchLimit(room, n, need int) int {
	cfg := &cs.s.cfg
	limit := n * max(cfg.MaxOutbound/cfg.MaxInFlight, 1)
	if need > limit {
		limit = need
	}
	if cfg.MaxBufferedTotal > 0 { // and half of what the server's budget has left (budget.go)
		free := cfg.MaxBufferedTotal - cs.s.buffered.Load() - cs.s.building.Load()
		room = int(min(int64(room), max(free/2, 0)))
	}
	return max(min(limit, room), 0)
}

// awaitCompletions is what decode does when the connection must wait for
// its batches in flight: make the loop the only writer, so that their
// completions wake it (retry: the completions already counted may have
// made room), or stop decoding (retry false, with the action to return)
// once it is (event loop).
func (cs *conn) awaitCompletions() (retry bool, act gnet.Action) {
	if cs.owned || cs.inflight == 0 {
		return false, gnet.None
	}
	cs.own() // it counts off the batches already written directly
	if !cs.flush() {
		return false, gnet.Close
	}
	return true, gnet.None
}

// broken ends the connection for a frame whose length, version or type
// is bad (event loop).
func (cs *conn) broken(b []byte, err error) {
	exc := codec.NewFrameFailure(b, err)
	if exc == nil {
		cs.end(CloseFrameTooLarge, nil)
		return
	}
	cs.end(CloseProtocol, exc)
}

// end marks the connection ending for reason: the requests read before
// the broken frame are answered (dispatched, deferred ones included),
// then exc goes out as a SERVER_FAILURE (none if nil) and the connection
// closes (endIfDone); nothing after the broken frame is read (event loop).
func (cs *conn) end(reason CloseReason, exc *codec.JavaException) {
	if !cs.ending {
		cs.ending, cs.endReason, cs.endExc = true, reason, exc
	}
}

// endIfDone closes an ending connection once every request read before
// its broken frame is answered and written out, with the SERVER_FAILURE
// last; until then it waits for completions and for the socket to take
// the answers (event loop, at the end of serve).
func (cs *conn) endIfDone() gnet.Action {
	cs.own() // completions wake the loop
	if cs.inflight > 0 {
		return gnet.None
	}
	if len(cs.deferred) > 0 || len(cs.queue) > 0 {
		cs.watchDrain()
		return gnet.None
	}
	if cs.endExc == nil {
		cs.setReason(cs.endReason)
		return gnet.Close
	}
	return cs.fail(cs.endReason, cs.endExc)
}

// fail writes a SERVER_FAILURE frame carrying exc and closes the
// connection: through gnet, which writes what the kernel did not take
// before it closes (the one time gnet's outbound buffer is used).
func (cs *conn) fail(reason CloseReason, exc *codec.JavaException) gnet.Action {
	cs.setReason(reason)
	cs.own()
	if n, _ := cs.nc.Write(serverFailureFrame(exc)); n > 0 {
		cs.s.ctr.bytesOut.Add(int64(n))
	}
	return gnet.Close
}

func (cs *conn) setReason(r CloseReason) {
	if !cs.reasonSet {
		cs.reason, cs.reasonSet = r, true
	}
}

// quiesce runs instead of decode while the server shuts down: nothing new
// is dispatched; the connection closes once everything dispatched is
// answered and written out.
func (cs *conn) quiesce() gnet.Action {
	if !cs.guard.lingerSince.IsZero() {
		return cs.linger() // half-closed: discard what comes until the client closes
	}
	cs.own() // completions must wake the loop, to close once the last is written
	// Requests read and not dispatched are answered with the shutdown
	// failure, the deferred ones and those still in gnet's buffer.
	for i, b := range cs.deferred {
		if _, n := cs.rejectFrames(b.in, 0, cs.s.closing); n > 0 {
			cs.s.ctr.pushedBack.Add(int64(n))
		}
		cs.s.batches.release(b)
		cs.deferred[i] = nil
	}
	cs.deferred = cs.deferred[:0]
	// While answers are still being computed the connection stays open
	// anyway; after that, what is buffered once more is refused and later
	// arrivals are dropped with the half-close, so that a client that keeps
	// sending cannot keep the server from stopping.
	if avail := cs.nc.InboundBuffered(); avail > 0 && !cs.ending && !cs.refusedAll {
		cs.refusedAll = cs.inflight == 0
		if buf, err := cs.nc.Peek(avail); err == nil {
			used, n := cs.rejectFrames(buf, 0, cs.s.closing)
			if n > 0 {
				cs.s.ctr.pushedBack.Add(int64(n))
				_, _ = cs.nc.Discard(used)
			}
		}
	}
	if cs.nc.InboundBuffered() > cs.s.cfg.MaxInbound {
		cs.setReason(CloseInboundOverflow) // not whole frames: the cap holds while shutting down too
		return gnet.Close
	}
	if !cs.flush() {
		return gnet.Close
	}
	if cs.inflight == 0 && len(cs.queue) == 0 {
		return cs.linger() // half-close, so the last answers are not lost to a reset
	}
	cs.watchDrain() // re-check soon: the socket may be taking the rest
	return gnet.None
}

// watchIfWaiting registers the connection with the drain watcher when it
// waits for its socket to take its answers, or for room.
func (cs *conn) watchIfWaiting() {
	waiting := cs.blocked || len(cs.queue) > 0 || (cs.waitRoom && cs.inflight == 0)
	if waiting != cs.pending {
		cs.pending = waiting
		if waiting {
			cs.s.ctr.pending.Add(1)
		} else {
			cs.s.ctr.pending.Add(-1)
		}
	}
	// The drain watcher looks only where nothing else will wake the loop:
	// a queue that waits for its socket gets its EPOLLOUT (writable), room
	// may come from other connections (the server's budget).
	if waiting && (!cs.socketWakes || (cs.waitRoom && cs.inflight == 0)) {
		cs.watchDrain()
	}
}

// wake asks the connection's event loop to run serve, unless it closed.
func (cs *conn) wake() {
	cs.mu.Lock()
	closed := cs.closed
	cs.mu.Unlock()
	if !closed {
		_ = cs.nc.Wake(nil)
	}
}

// complete takes a batch answered off the event loop (any goroutine).
// While direct writes are on it writes the answers to the socket itself,
// under mu (OnClose waits for it, so the descriptor is still this
// connection's); whatever the socket does not take at once (EAGAIN, a
// partial write, an error) goes to the loop, which writes the rest through
// gnet, and direct writes stay off until the loop turns them on again.
func (cs *conn) complete(b *batch) {
	cs.mu.Lock()
	if cs.closed {
		cs.mu.Unlock()
		cs.s.batches.release(b)
		return
	}
	if cs.direct {
		n, size := len(b.out), len(b.out)
		if len(b.segs) > 0 { // lent values: the headers and values in one writev
			size = 0
			for _, seg := range b.segs {
				size += len(seg)
			}
			// At most maxIov pieces: more would make unix.Writev allocate its
			// iovec array (and past IOV_MAX fail); the rest goes to the loop.
			n, _ = cs.raw.rawWritev(b.segs[:min(len(b.segs), maxIov)])
			n = max(n, 0)
		} else if n > 0 {
			n, _ = cs.raw.rawWrite(b.out) // an error is the loop's to handle: it retries through gnet
			n = max(n, 0)
		}
		if n == size && (b.isPart || b.answered == b.n) {
			cs.answered += b.owes()
			cs.unreserved += b.limit
			cs.answeredB++
			cs.s.ctr.bytesOut.Add(int64(n)) // before OnClose can count the connection closed (it takes mu)
			cs.mu.Unlock()
			cs.s.batches.release(b)
			if cs.s.cfg.ConnState != nil {
				cs.wake() // the loop counts this batch off and reports Idle
			}
			return
		}
		// The loop takes over: it writes the rest first (I9), or keeps the
		// requests the handler deferred. Direct writes stay off until it
		// turns them on again, so that nothing is written behind its back
		// while it holds this batch (it counts itself the only writer once
		// it has taken a completion).
		cs.direct = false
		b.off = n
		cs.s.ctr.bytesOut.Add(int64(n))
	}
	cs.completed = append(cs.completed, b)
	if cs.handedOver {
		cs.mu.Unlock()
		select {
		case cs.drainKick <- struct{}{}:
		default:
		}
		return
	}
	wake := !cs.wakeQueued
	cs.wakeQueued = true
	cs.mu.Unlock()
	if wake {
		_ = cs.nc.Wake(nil)
	}
}

// release gives back everything the connection holds (OnClose, event loop).
// Batches still with the handler are released when they complete.
func (cs *conn) release() {
	cs.unaccount()
	cs.mu.Lock()
	cs.closed = true
	done := cs.completed
	cs.completed = nil
	cs.mu.Unlock()
	for _, b := range done {
		cs.s.batches.release(b)
	}
	for i, b := range cs.deferred {
		cs.s.batches.release(b)
		cs.deferred[i] = nil
	}
	cs.deferred = cs.deferred[:0]
	for i := range cs.queue {
		cs.done(&cs.queue[i])
	}
	cs.queue, cs.qoff, cs.queued, cs.lent = nil, 0, 0, 0
	if cs.blocked {
		cs.blocked = false
		cs.s.ctr.backpressured.Add(-1)
	}
	if cs.pending {
		cs.pending = false
		cs.s.ctr.pending.Add(-1)
	}
}
