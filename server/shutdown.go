package server

import (
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// Lingering close during shutdown, as nginx's lingering_close: closing a
// socket whose receive queue holds unread bytes (the client kept sending
// requests we no longer read) makes the kernel send a reset instead of a
// FIN, and a reset makes the client's kernel drop what it has not read
// yet: the last answers would be lost. So once a connection has nothing
// left to write, the server half-closes it (SHUT_WR: a FIN after the
// answers), keeps reading and dropping what the client sends, and closes
// when the client closes (gnet sees EOF), or once the client has sent
// nothing for shutdownLingerQuiet (its receive queue then empty: a FIN),
// or after shutdownLingerMax in any case.
const (
	// shutdownLingerQuiet: a client that read its last answers sees the FIN
	// and closes within a round trip; one quiet for 250 ms that has not
	// closed is idle, and closing it with a FIN loses it nothing.
	shutdownLingerQuiet = 250 * time.Millisecond

	// shutdownLingerMax bounds the linger of a client that keeps sending
	// (5 s; nginx's lingering_time is 30 s): one that has not read its way
	// to our FIN by then is not reading.
	shutdownLingerMax = 5 * time.Second
)

// linger ends a connection during shutdown once it has nothing left to
// write (quiesce, event loop): half-close it the first time, drop what the
// client sends after. runCheck closes it when it has lingered enough.
func (cs *conn) linger() gnet.Action {
	cs.setReason(CloseShutdown)
	g := &cs.guard
	now := time.Now()
	if g.lingerSince.IsZero() {
		if err := unix.Shutdown(cs.nc.Fd(), unix.SHUT_WR); err != nil {
			return gnet.Close // not a socket we can half-close (or already gone)
		}
		g.lingerSince, g.lingerInput = now, now
	}
	if n := cs.nc.InboundBuffered(); n > 0 {
		_, _ = cs.nc.Discard(n) // n > 0: Discard(0) would mean everything too, but say so
		g.lingerInput = now
	}
	return gnet.None
}

// lingeredEnough reports whether a half-closed connection may close now
// (event loop, from the sweep's look).
func (cs *conn) lingeredEnough(now time.Time) bool {
	g := &cs.guard
	if unreadInKernel(cs.nc.Fd()) {
		g.lingerInput = now // closing now would reset
	}
	return now.Sub(g.lingerInput) >= shutdownLingerQuiet || now.Sub(g.lingerSince) >= shutdownLingerMax
}
