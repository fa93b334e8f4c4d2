package server

import (
	"strconv"
	"sync/atomic"
)

// CloseReason says why a connection closed.
type CloseReason int

// The reasons a connection closes. Each is counted in Stats.Closed.
const (
	// ClosePeer: the client closed the connection, or it failed (EOF, reset).
	ClosePeer CloseReason = iota
	// CloseProtocol: a frame had a bad version, type or length; the server
	// sent SERVER_FAILURE, then closed.
	CloseProtocol
	// CloseFrameTooLarge: a frame's length prefix exceeded Config.MaxFrameLen.
	CloseFrameTooLarge
	// CloseInboundOverflow: the connection buffered more than Config.MaxInbound
	// bytes that are not whole frames (requests past it are answered with a
	// retryable failure instead, Stats.Rejected).
	CloseInboundOverflow
	// CloseConnLimit: the connection arrived while Config.MaxConns were open.
	CloseConnLimit
	// CloseShutdown: the server shut down.
	CloseShutdown
	// CloseWriteError: writing to the connection failed.
	CloseWriteError
	// CloseIdle: the connection had no request and nothing in flight for
	// Config.IdleTimeout.
	CloseIdle
	// CloseSlowConsumer: the client did not read its answers: it took none
	// of them for Config.StallTimeout, or it sent requests past
	// Config.MaxInbound while its answers waiting filled Config.MaxOutbound.
	CloseSlowConsumer
	// CloseFrameTimeout: no whole frame within Config.FrameTimeout of
	// opening, or a frame left half-sent for that long (lockout.go).
	CloseFrameTimeout
	// CloseEvicted: the connection had sent no whole frame yet and made
	// way for a new one (Config.MaxConnsPerAddr, ReservedConns; lockout.go).
	CloseEvicted
	// CloseShed: the server held more than Config.MaxBufferedTotal and the
	// connection was among those holding the most (budget.go).
	CloseShed

	numCloseReasons
)

// String returns the reason's name.
func (r CloseReason) String() string {
	switch r {
	case ClosePeer:
		return "peer"
	case CloseProtocol:
		return "protocol"
	case CloseFrameTooLarge:
		return "frame-too-large"
	case CloseInboundOverflow:
		return "inbound-overflow"
	case CloseConnLimit:
		return "conn-limit"
	case CloseShutdown:
		return "shutdown"
	case CloseWriteError:
		return "write-error"
	case CloseIdle:
		return "idle"
	case CloseSlowConsumer:
		return "slow-consumer"
	case CloseFrameTimeout:
		return "frame-timeout"
	case CloseEvicted:
		return "evicted"
	case CloseShed:
		return "shed"
	}
	return "CloseReason(" + strconv.Itoa(int(r)) + ")"
}

// Stats is a snapshot of a server's counters (Server.Stats). Counters only
// grow, except Conns, InFlight, Pending and Backpressured, which are levels.
type Stats struct {
	Conns    int64 // connections open now
	Accepted int64 // connections accepted, including those closed for CloseConnLimit

	Requests int64 // request frames dispatched to the handler
	Batches  int64 // batches dispatched (one per wake-up of a connection with whole frames)
	InFlight int64 // batches dispatched and not yet answered

	BytesIn  int64 // bytes of request frames dispatched (length prefixes included)
	BytesOut int64 // bytes of answer and SERVER_FAILURE frames the kernel took

	Pending            int64 // connections with answers waiting for their socket to take them
	Backpressured      int64 // connections under backpressure now (pending above the high watermark)
	BackpressureStarts int64 // times a connection came under backpressure (went above its high watermark)

	// MaxOutbound is the most answer bytes one connection had pending
	// (queued, not yet taken by the kernel) after a write, since start:
	// what Config.MaxOutbound and the watermarks hold down (I6); with a
	// reader that does not keep up, about one answer plus LowWatermark.
	MaxOutbound int64

	Closed [numCloseReasons]int64 // connections closed, by CloseReason

	// Rejected counts requests the server answered itself with a failure:
	// past MaxInbound (pushback, retryable) or read while shutting down.
	Rejected int64

	// Buffered is the bytes the connections hold now (requests read and
	// not dispatched, answers waiting or being built), as counted against
	// Config.MaxBufferedTotal.
	Buffered int64

	// HalfClosed counts connections whose client shut down its write side
	// while answers were owed, finished by the server after gnet let go of
	// them (halfclose.go).
	HalfClosed int64

	// LogsSuppressed counts connection warnings and errors left out of the
	// log by Config.LogRate.
	LogsSuppressed int64
}

// ClosedFor returns the number of connections closed for r.
func (s Stats) ClosedFor(r CloseReason) int64 {
	if r < 0 || r >= numCloseReasons {
		return 0
	}
	return s.Closed[r]
}

// counters are the live counters behind Stats.
type counters struct {
	conns, accepted                 atomic.Int64
	requests, batches, inFlight     atomic.Int64
	pending, backpressured          atomic.Int64
	backpressureStarts, maxOutbound atomic.Int64
	bytesIn, bytesOut               atomic.Int64
	closed                          [numCloseReasons]atomic.Int64
	logsSuppressed                  atomic.Int64
	pushedBack                      atomic.Int64
	halfClosed                      atomic.Int64
}

func (c *counters) snapshot() Stats {
	s := Stats{
		Conns:              c.conns.Load(),
		Accepted:           c.accepted.Load(),
		Requests:           c.requests.Load(),
		Batches:            c.batches.Load(),
		InFlight:           c.inFlight.Load(),
		BytesIn:            c.bytesIn.Load(),
		BytesOut:           c.bytesOut.Load(),
		Pending:            c.pending.Load(),
		Backpressured:      c.backpressured.Load(),
		BackpressureStarts: c.backpressureStarts.Load(),
		MaxOutbound:        c.maxOutbound.Load(),
	}
	for i := range c.closed {
		s.Closed[i] = c.closed[i].Load()
	}
	s.LogsSuppressed = c.logsSuppressed.Load()
	s.Rejected = c.pushedBack.Load()
	s.HalfClosed = c.halfClosed.Load()
	return s
}

// observeOutbound raises maxOutbound to n if n is larger.
func (c *counters) observeOutbound(n int) {
	v := int64(n)
	for {
		cur := c.maxOutbound.Load()
		if v <= cur || c.maxOutbound.CompareAndSwap(cur, v) {
			return
		}
	}
}
