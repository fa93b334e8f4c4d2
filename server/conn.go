package server

import (
	"sync"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"

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
	OutboundBuffered() int
	Write(p []byte) (int, error)
	Writev(bs [][]byte) (int, error)
	Wake(cb gnet.AsyncCallback) error
}

// maxIov is the most answer buffers one write gathers (writev). Up to
// eight, golang.org/x/sys builds the iovec array on the stack.
const maxIov = 8

// conn is the server's state for one connection.
//
// Fields in the first group belong to the connection's event loop. The
// second group is shared with the goroutines that complete batches, under
// mu. watched belongs to the drain watcher.
type conn struct {
	s  *Server
	nc netConn

	// Event loop only.
	inflight  int            // requests dispatched whose answers are not yet queued
	need      int            // bytes the next frame needs to be whole (0: unknown)
	queue     [][]byte       // answers not yet handed to gnet, oldest first (bufpool buffers)
	qoff      int            // bytes of queue[0] already handed to gnet
	queued    int            // bytes in queue not yet handed to gnet
	blocked   bool           // outbound went over the high watermark; waiting for the low one
	pending   bool           // counted in Stats.Pending
	reason    CloseReason    // why the server closes the connection, if reasonSet
	reasonSet bool           //
	iov       [maxIov][]byte // scratch for Writev
	spare     []*batch       // the completed list last taken, kept for its capacity

	// Shared under mu.
	mu         sync.Mutex
	completed  []*batch // batches answered off the loop, waiting for it
	wakeQueued bool     // a Wake for completed batches is on its way
	closed     bool     // OnClose ran: completions release their batch at once

	watched atomic.Bool // registered with the drain watcher
}

func newConn(s *Server, nc netConn) *conn {
	return &conn{s: s, nc: nc}
}

// serve is the connection's event loop task (OnTraffic): take the
// answered batches, write what the watermarks allow, then decode and
// dispatch whole frames unless the connection is held back.
func (cs *conn) serve() gnet.Action {
	cs.collect()
	if !cs.flush() {
		return gnet.Close // gnet already closed it on the write error
	}
	if cs.s.state.Load() != stateServing {
		return cs.quiesce()
	}
	if act := cs.decode(); act != gnet.None {
		return act
	}
	cs.watchIfWaiting()
	return gnet.None
}

// collect takes the batches answered off the loop and queues their answers.
func (cs *conn) collect() {
	cs.mu.Lock()
	done := cs.completed
	cs.completed = cs.spare[:0]
	cs.wakeQueued = false
	cs.mu.Unlock()
	for i, b := range done {
		cs.finish(b)
		done[i] = nil
	}
	cs.spare = done[:0]
}

// finish queues a batch's answers and releases the batch (event loop).
func (cs *conn) finish(b *batch) {
	cs.inflight -= b.n
	if out := b.out; len(out) > 0 {
		cs.queue = append(cs.queue, out)
		cs.queued += len(out)
		b.out = nil
	}
	cs.s.batches.release(b)
}

// held reports whether the connection's requests must wait: its outbound
// buffer is over the high watermark (until it drains below the low one),
// or a large answer is still being written in chunks.
func (cs *conn) held() bool {
	return cs.blocked || cs.queued >= cs.s.cfg.HighWatermark
}

// flush hands queued answers to gnet while the connection is below its
// high watermark: answers up to HighWatermark go whole (several at once
// through writev), larger ones in HighWatermark-sized chunks. It returns
// false when a write failed (gnet has then closed the connection).
func (cs *conn) flush() bool {
	cfg := &cs.s.cfg
	for len(cs.queue) > 0 {
		ob := cs.nc.OutboundBuffered()
		if cs.blocked {
			if ob > cfg.LowWatermark {
				break
			}
			cs.blocked = false
			cs.s.ctr.backpressured.Add(-1)
			cs.s.log.Debug().Int("outbound", ob).Msg("connection drained: resuming")
		}
		if ob >= cfg.HighWatermark {
			cs.blocked = true
			cs.s.ctr.backpressured.Add(1)
			cs.s.ctr.stalls.Add(1)
			cs.s.log.Debug().Int("outbound", ob).Int("queued", cs.queued).Msg("connection over high watermark: holding back")
			break
		}
		head := cs.queue[0][cs.qoff:]
		if len(head) > cfg.HighWatermark {
			if _, err := cs.nc.Write(head[:cfg.HighWatermark]); err != nil {
				return false
			}
			cs.qoff += cfg.HighWatermark
			cs.queued -= cfg.HighWatermark
		} else {
			k, total := 0, 0
			for k < maxIov && k < len(cs.queue) {
				b := head
				if k > 0 {
					b = cs.queue[k]
				}
				if k > 0 && total+len(b) > cfg.HighWatermark {
					break
				}
				cs.iov[k] = b
				total += len(b)
				k++
			}
			var err error
			if k == 1 {
				_, err = cs.nc.Write(cs.iov[0])
			} else {
				_, err = cs.nc.Writev(cs.iov[:k])
			}
			clear(cs.iov[:k])
			if err != nil {
				return false
			}
			for i := range k {
				bufpool.Put(cs.queue[i])
			}
			n := copy(cs.queue, cs.queue[k:])
			clear(cs.queue[n:])
			cs.queue = cs.queue[:n]
			cs.qoff = 0
			cs.queued -= total
		}
		cs.s.ctr.observeOutbound(cs.nc.OutboundBuffered())
	}
	return true
}

// decode dispatches the whole frames buffered, as one batch per pass,
// while the connection is not held back and has in-flight budget. A bad
// frame answers SERVER_FAILURE (when it deserves one) and closes.
func (cs *conn) decode() gnet.Action {
	cfg := &cs.s.cfg
	for !cs.held() && cs.inflight < cfg.MaxInFlight {
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
				return cs.broken(buf[off:], err)
			}
			if size == 0 {
				if ln, ok := codec.FrameLength(buf[off:]); ok {
					cs.need = codec.LengthLen + int(ln)
				}
				break
			}
			if f.Type != codec.Request {
				return cs.fail(CloseProtocol, wrongTypeFailure(f.Type))
			}
			off += size
			n++
		}
		if n == 0 {
			break
		}
		b := cs.s.batches.get(cs, buf[:off], n)
		if _, err := cs.nc.Discard(off); err != nil {
			cs.s.batches.release(b)
			return gnet.Close
		}
		cs.inflight += n
		if early := cs.s.dispatch(b); early {
			cs.finish(b)
			if !cs.flush() {
				return gnet.Close
			}
		}
	}
	if cs.nc.InboundBuffered() > cfg.MaxInbound {
		cs.setReason(CloseInboundOverflow)
		return gnet.Close
	}
	return gnet.None
}

// broken handles a frame whose length, version or type is bad.
func (cs *conn) broken(b []byte, err error) gnet.Action {
	exc := streamFailure(b, err)
	if exc == nil {
		cs.setReason(CloseFrameTooLarge)
		return gnet.Close
	}
	return cs.fail(CloseProtocol, exc)
}

// fail writes a SERVER_FAILURE frame carrying exc and closes the
// connection (gnet writes what it buffered before it closes).
func (cs *conn) fail(reason CloseReason, exc *codec.JavaException) gnet.Action {
	cs.setReason(reason)
	_, _ = cs.nc.Write(serverFailureFrame(exc))
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
	if cs.inflight == 0 && len(cs.queue) == 0 && cs.nc.OutboundBuffered() == 0 {
		cs.setReason(CloseShutdown)
		return gnet.Close
	}
	cs.s.watch.add(cs) // re-check soon: gnet's buffer may be draining
	return gnet.None
}

// watchIfWaiting registers the connection with the drain watcher when it
// waits for its outbound buffer to drain (nothing else would wake it).
func (cs *conn) watchIfWaiting() {
	waiting := cs.blocked || len(cs.queue) > 0
	if waiting != cs.pending {
		cs.pending = waiting
		if waiting {
			cs.s.ctr.pending.Add(1)
		} else {
			cs.s.ctr.pending.Add(-1)
		}
	}
	if waiting {
		cs.s.watch.add(cs)
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
func (cs *conn) complete(b *batch) {
	cs.mu.Lock()
	if cs.closed {
		cs.mu.Unlock()
		cs.s.batches.release(b)
		return
	}
	cs.completed = append(cs.completed, b)
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
	cs.mu.Lock()
	cs.closed = true
	done := cs.completed
	cs.completed = nil
	cs.mu.Unlock()
	for _, b := range done {
		cs.s.batches.release(b)
	}
	for _, q := range cs.queue {
		bufpool.Put(q)
	}
	cs.queue, cs.qoff, cs.queued = nil, 0, 0
	if cs.blocked {
		cs.blocked = false
		cs.s.ctr.backpressured.Add(-1)
	}
	if cs.pending {
		cs.pending = false
		cs.s.ctr.pending.Add(-1)
	}
}
