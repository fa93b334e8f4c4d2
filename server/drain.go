package server

// Polling connections whose answers wait for their socket (watcher.go)
// costs a wake-up of the event loop per connection and poll. Where there
// is epoll the socket's own EPOLLOUT wakes them instead (writable_linux.go)
// and they are not polled; elsewhere, for a reader that keeps up the polls
// are cheap, for one that stopped reading they are wasted, and a few
// thousand of those (a hostile client needs only ask for large values and
// not read) would keep the event loops busy. A connection whose pending bytes have not gone
// down for drainSlowAfter looks in a row is therefore polled every
// drainSlowFactor intervals instead, until they go down again.
const (
	// drainSlowAfter is the number of looks in a row without draining
	// after which a waiting connection is polled slowly (16: 16 ms at the
	// default DrainPoll, far longer than a reader that keeps up takes to
	// drain a watermark).
	drainSlowAfter = 16

	// drainSlowFactor is the slow poll interval in DrainPolls (64: 64 ms at
	// the default): a stalled reader costs 1/64 of the wake-ups, and a
	// reader that resumes waits at most that long for its next chunk.
	drainSlowFactor = 64
)

// watchDrain registers the connection with the drain watcher, fast while
// its pending bytes go down or within
// drainSlowAfter looks, slowly after (event loop).
func (cs *conn) watchDrain() {
	g := &cs.guard
	pending := cs.queued
	if pending < g.drainLast {
		g.drainStuck = 0
	} else if g.drainStuck < drainSlowAfter {
		g.drainStuck++
	}
	g.drainLast = pending
	if g.drainStuck >= drainSlowAfter {
		cs.s.watch.addSlow(cs)
		return
	}
	cs.s.watch.add(cs)
}
