package server

import "github.com/rs/zerolog"

// Outbound limit (Config.MaxOutbound): what one connection can make the
// server hold in answers.
//
// Backpressure (flush, held) stops dispatching a connection's requests
// while gnet holds HighWatermark bytes for it, so a reader that keeps up
// never has more pending than the answers of the batches in flight plus
// 2*HighWatermark (I5). But answers are computed before the server can
// count them: a client that pipelines many requests for large values and
// reads nothing gets all their answers queued (up to MaxInFlight of them),
// and a single answer can be larger than any watermark. Everything queued
// and not yet taken by the kernel counts: the answers waiting in the
// connection's queue, whole (a large one is handed to gnet a chunk at a
// time, and its buffer is held until the last chunk is), and gnet's
// outbound buffer. The sum is checked each time answers are queued,
// before anything more is written (flush), and a connection past the
// limit is closed at once as a slow consumer, which gives its buffers
// back. MaxOutbound thus bounds, per connection, what the server holds
// between two batches; StallTimeout (idle.go) bounds how long a
// non-reader may hold less than that.

// overOutbound reports whether the answers waiting for the connection
// passed MaxOutbound; if so it marks the connection CloseSlowConsumer and
// logs it once, with the numbers (event loop; flush calls it when answers
// are queued).
func (cs *conn) overOutbound() bool {
	cfg := &cs.s.cfg
	// gnet holds at most 2*HighWatermark (I5; Validate keeps MaxOutbound
	// above that): below this the sum cannot pass, and the interface call
	// is saved.
	held := cs.queued + cs.qoff // the head buffer is held whole until its last chunk goes
	if held <= cfg.MaxOutbound-2*cfg.HighWatermark {
		return false
	}
	pending := held + cs.nc.OutboundBuffered()
	if pending <= cfg.MaxOutbound {
		return false
	}
	cs.setReason(CloseSlowConsumer)
	cs.s.limitedLog(zerolog.WarnLevel).Uint64("conn", cs.guard.id).Stringer("remote", cs.guard.remote).
		Int("pending", pending).Int("max_outbound", cfg.MaxOutbound).
		Int64("slow_consumers", cs.s.ctr.closed[CloseSlowConsumer].Load()+1).
		Msg("slow consumer: answers waiting passed MaxOutbound; closing")
	return true
}
