package server

import (
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// shutdownLinger is how long a connection shutting down stays half-closed
// waiting for its client to close, once everything was answered and
// handed to the kernel (1 s, checked by the sweep, so 1 to 2 s in all): a
// client that reads sees the FIN after its last answer and closes within
// a round trip; one that has not closed by then is not reading, and a
// reset loses it nothing it would have read.
const shutdownLinger = time.Second

// linger ends a connection during shutdown once it has nothing left to
// write (quiesce, event loop). Closing a socket whose receive queue holds
// unread bytes (the client kept sending requests we no longer read) makes
// the kernel send a reset and drop what it has not sent yet: the last
// answers would be lost. So the server half-closes instead (SHUT_WR: a FIN
// after the answers), keeps reading and discarding what the client sends,
// and closes when the client does (gnet sees EOF) or after
// shutdownLinger (runCheck). Returns the action for gnet.
func (cs *conn) linger() gnet.Action {
	cs.setReason(CloseShutdown)
	g := &cs.guard
	if g.lingerSince.IsZero() {
		if err := unix.Shutdown(cs.nc.Fd(), unix.SHUT_WR); err != nil {
			return gnet.Close // not a socket we can half-close (or already gone)
		}
		g.lingerSince = time.Now()
	}
	if n := cs.nc.InboundBuffered(); n > 0 {
		_, _ = cs.nc.Discard(n) // n > 0: Discard(0) would mean everything too, but say so
	}
	return gnet.None
}
