package server

import (
	"errors"
	"io"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/qstate/qstate/bufpool"
	"github.com/qstate/qstate/codec"
)

// Half-close: a client that writes its requests and then shuts down its
// write side (SHUT_WR) still reads; its requests must all be answered.
// gnet closes a connection as soon as a read returns EOF, before the
// answers of what it read are computed. So when OnClose sees the peer's
// EOF while the connection still owes answers (requests in flight,
// deferred, queued answers, whole frames not yet dispatched), the
// connection is handed over: the server keeps a duplicate of its
// descriptor, and a goroutine of its own (drain) dispatches what was read,
// writes every answer with blocking writes (each bounded by a send
// timeout), then closes. Only then is the close counted (ClosePeer) and
// the connection's slot given back, so MaxConns, Shutdown and the byte
// counters see what really happened: Stats.BytesOut counts only bytes the
// socket took.

// halfCloseSendTimeout bounds each blocking write of a handed-over
// connection (SO_SNDTIMEO): a client that half-closed and does not read
// its answers for this long loses them.
const halfCloseSendTimeout = 5 * time.Second

// handOver takes over cs from gnet if the peer half-closed while answers
// are owed; it reports whether it did (OnClose, event loop).
func (s *Server) handOver(cs *conn, c gnet.Conn, err error) bool {
	// gnet's outbound buffer holds no answer (flush writes them itself and
	// queues what the kernel does not take): every byte owed is ours to
	// hand over. Only fail writes through gnet, and it sets a reason.
	if s.state.Load() != stateServing || cs.reasonSet || cs.ending || !errors.Is(err, io.EOF) ||
		c.OutboundBuffered() > 0 {
		return false
	}
	cs.collect()
	var frames []byte
	n := 0
	if avail := c.InboundBuffered(); avail > 0 {
		if buf, perr := c.Peek(avail); perr == nil {
			used := 0
			for {
				f, size, derr := codec.DecodeFrame(buf[used:], s.cfg.MaxFrameLen)
				if derr != nil || size == 0 || f.Type != codec.Request {
					break
				}
				used += size
				n++
			}
			if n > 0 {
				frames = append(bufpool.Get(used), buf[:used]...)
			}
		}
	}
	if n == 0 && cs.inflight == 0 && len(cs.deferred) == 0 && len(cs.queue) == 0 {
		return false // nothing owed: an ordinary close
	}
	fd, derr := unix.Dup(c.Fd())
	if derr != nil {
		if frames != nil {
			bufpool.Put(frames)
		}
		return false
	}
	cs.mu.Lock()
	cs.direct = false // workers queue for the drain from now on; the old descriptor is gnet's to close
	cs.handedOver = true
	cs.drainKick = make(chan struct{}, 1)
	cs.mu.Unlock()
	cs.raw = fdWriter(fd)
	s.drains.Add(1)
	s.ctr.halfClosed.Add(1)
	go cs.drain(fd, frames, n)
	return true
}

// drain finishes a handed-over connection (its own goroutine, the owner of
// the connection's event-loop state from now on): dispatch the frames
// read and the deferred requests, write every answer, close.
func (cs *conn) drain(fd int, frames []byte, n int) {
	s := cs.s
	defer s.drains.Done()
	_ = unix.SetNonblock(fd, false)
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &unix.Timeval{Sec: int64(halfCloseSendTimeout / time.Second)})
	if n > 0 {
		cs.deferred = append(cs.deferred, s.batches.get(cs, frames, n))
		bufpool.Put(frames)
	}
	ok := true
	for ok && s.state.Load() != stateClosed {
		ok = cs.drainWrite()
		if !ok {
			break
		}
		if cs.inflight == 0 {
			if len(cs.deferred) == 0 {
				break
			}
			b := cs.deferred[0]
			cs.deferred = cs.deferred[1:]
			cs.inflight += b.n
			cs.reserved += s.cfg.MaxOutbound / 2
			if early := s.dispatch(b, s.cfg.MaxOutbound/2, true); early {
				cs.finish(b)
			}
			continue
		}
		select {
		case <-cs.drainKick:
		case <-time.After(time.Second): // a Close or a lost kick: look again
		}
		cs.collect()
	}
	if ok {
		_ = unix.Shutdown(fd, unix.SHUT_WR) // a FIN after the last answer
	}
	cs.mu.Lock()
	cs.closed = true // completions from now on release their batch
	cs.mu.Unlock()
	cs.release()
	_ = unix.Close(fd)
	s.ctr.conns.Add(-1)
	s.ctr.closed[ClosePeer].Add(1)
	s.reportState(cs.guard.id, ConnClosed, ClosePeer)
	if s.obs != nil {
		s.obs.ConnClosed()
	}
	s.kickIdle()
}

// drainWrite writes everything queued, blocking (drain's goroutine). It
// reports false when the socket failed or timed out.
func (cs *conn) drainWrite() bool {
	for len(cs.queue) > 0 {
		head := cs.queue[0].b[cs.qoff:]
		if len(head) == 0 { // an empty entry (a batch's last piece after a lent value)
			cs.advance(0)
			continue
		}
		n, err := cs.raw.rawWrite(head)
		if n > 0 {
			cs.s.ctr.bytesOut.Add(int64(n))
			cs.advance(n)
		}
		if err != nil && err != unix.EINTR {
			return false
		}
	}
	return true
}
