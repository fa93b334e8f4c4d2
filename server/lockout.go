package server

import (
	"container/list"
	"net"
	"net/netip"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// Lock-out (Config.FrameTimeout, MaxConnsPerAddr, ReservedConns): silent
// or dribbling connections must not keep others out.
//
// A connection is unproven until its first whole frame arrives. Unproven
// connections may hold at most MaxConns-ReservedConns slots, and one
// source address at most MaxConnsPerAddr. When a new connection would
// pass a limit, the oldest unproven connection in its scope (the address,
// or the server) is evicted to make room (CloseEvicted); only when none is
// left to evict is the new one refused (CloseConnLimit). A client that
// sends its request at once is proven within a round trip, so a flood of
// silent connections, which evict one another, cannot keep it out; and
// each silent connection lives at most FrameTimeout anyway (the sweep,
// idle.go): no first whole frame within FrameTimeout of opening, or a
// frame left half-sent for FrameTimeout, closes it (CloseFrameTimeout),
// as web servers time out request headers.
//
// The bookkeeping is per connection, under Server.mu (taken at open, at
// close and once when a connection proves itself), never per request.

// admission is the server's record of unproven connections, under Server.mu.
type admission struct {
	unproven list.List // of *conn, oldest first
	addrs    map[netip.Addr]*addrConns
}

// addrConns is one source address's connections.
type addrConns struct {
	n        int       // open connections from the address
	unproven list.List // of *conn, oldest first
}

// connAdmission is a connection's part of the admission record.
type connAdmission struct {
	addr     netip.Addr
	elem     *list.Element // in admission.unproven while unproven
	addrElem *list.Element // in addrConns.unproven while unproven
	proven   bool          // event loop: a whole frame arrived (set once)
	// consumed counts the bytes of frames taken out of gnet's buffer; a
	// half-sent frame is the same one while it does not change (event loop).
	consumed    int64
	partialAt   int64     // consumed when the sweep first saw the partial frame
	partialSeen time.Time // then (zero: no partial frame seen)
}

func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}

// admit records cs (from addr) as open and unproven, evicting the oldest
// unproven connections that stand in its way; it reports refused when it
// cannot make room. The victims' closes are the caller's, outside the
// lock (s.mu held).
func (s *Server) admit(cs *conn, addr netip.Addr, full bool) (victims [3]*conn, refused bool) {
	cfg := &s.cfg
	ad := &s.adm
	if ad.addrs == nil {
		ad.addrs = make(map[netip.Addr]*addrConns)
	}
	a := ad.addrs[addr]
	if a == nil {
		a = new(addrConns)
		ad.addrs[addr] = a
	}
	k := 0
	switch {
	case a.n >= cfg.MaxConnsPerAddr && a.unproven.Len() > 0:
		victims[k] = s.evictLocked(a.unproven.Front().Value.(*conn)) // frees a global slot too
		k++
	case a.n >= cfg.MaxConnsPerAddr, full && ad.unproven.Len() == 0:
		if a.n == 0 {
			delete(ad.addrs, addr)
		}
		return victims, true
	case full: // every slot is taken: the oldest silent one gives way
		victims[k] = s.evictLocked(ad.unproven.Front().Value.(*conn))
		k++
	}
	if ad.unproven.Len() > 0 && ad.unproven.Len() >= cfg.MaxConns-cfg.ReservedConns {
		victims[k] = s.evictLocked(ad.unproven.Front().Value.(*conn))
	}
	a.n++
	cs.adm.addr = addr
	cs.adm.elem = ad.unproven.PushBack(cs)
	cs.adm.addrElem = a.unproven.PushBack(cs)
	return victims, false
}

// evictLocked takes v off the unproven lists and marks it evicted; the
// caller closes it (s.mu held).
func (s *Server) evictLocked(v *conn) *conn {
	s.unlistLocked(v)
	v.evicted.Store(true)
	return v
}

// unlistLocked takes cs off the unproven lists (s.mu held).
func (s *Server) unlistLocked(cs *conn) {
	if cs.adm.elem != nil {
		s.adm.unproven.Remove(cs.adm.elem)
		cs.adm.elem = nil
	}
	if cs.adm.addrElem != nil {
		if a := s.adm.addrs[cs.adm.addr]; a != nil {
			a.unproven.Remove(cs.adm.addrElem)
		}
		cs.adm.addrElem = nil
	}
}

// closeVictims closes the connections admit evicted (any goroutine).
func closeVictims(victims [3]*conn) {
	for _, v := range victims {
		if v == nil {
			continue
		}
		if gc, ok := v.nc.(gnet.Conn); ok {
			_ = gc.Close() // runs on its own loop; OnClose counts it CloseEvicted
		}
	}
}

// forget removes a closing connection from the admission record (OnClose).
func (s *Server) forget(cs *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unlistLocked(cs)
	if a := s.adm.addrs[cs.adm.addr]; a != nil {
		if a.n--; a.n <= 0 {
			delete(s.adm.addrs, cs.adm.addr)
		}
	}
}

// prove marks the connection as having sent a whole frame (event loop,
// once): it no longer counts as unproven and is never evicted.
func (cs *conn) prove() {
	cs.adm.proven = true
	cs.s.mu.Lock()
	cs.s.unlistLocked(cs)
	cs.s.mu.Unlock()
}

// checkFrames closes a connection that has sent no whole frame within
// FrameTimeout of opening, or has left a frame half-sent for FrameTimeout
// (event loop: the sweep's look).
func (cs *conn) checkFrames(now time.Time) (CloseReason, bool) {
	cfg := &cs.s.cfg
	if cfg.FrameTimeout <= 0 {
		return 0, false
	}
	g := &cs.guard
	if !cs.adm.proven {
		if now.Sub(g.opened) >= cfg.FrameTimeout {
			return CloseFrameTimeout, true
		}
		return 0, false
	}
	if !cs.partialFrame() {
		cs.adm.partialSeen = time.Time{}
		return 0, false
	}
	if cs.adm.partialSeen.IsZero() || cs.adm.partialAt != cs.adm.consumed {
		cs.adm.partialSeen, cs.adm.partialAt = now, cs.adm.consumed
		return 0, false
	}
	if now.Sub(cs.adm.partialSeen) >= cfg.FrameTimeout {
		return CloseFrameTimeout, true
	}
	return 0, false
}

// partialFrame reports whether gnet's buffer ends the connection's bytes
// with an unfinished frame at its head: bytes that wait for the client,
// not for the server (event loop).
func (cs *conn) partialFrame() bool {
	avail := cs.nc.InboundBuffered()
	if avail == 0 || cs.ending {
		return false
	}
	if avail < 4 {
		return true
	}
	head, err := cs.nc.Peek(4)
	if err != nil {
		return false
	}
	n := int(uint32(head[0])<<24 | uint32(head[1])<<16 | uint32(head[2])<<8 | uint32(head[3]))
	return avail < 4+n
}
