package server

import (
	"cmp"
	"math"
	"runtime"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/internal/configcheck"
)

// Defaults for the zero fields of Config, with the reason for each value.
const (
	// DefaultAddr listens on a free loopback port: a zero Config is safe to
	// start anywhere (tests, embedding); the qstate binary passes Flink's
	// ports (9069 proxy, 9067 state server) explicitly.
	DefaultAddr = "127.0.0.1:0"

	// DefaultMaxInbound is the hard cap on bytes buffered from one
	// connection (4 MiB): inbound data keeps arriving while a connection
	// is under backpressure (gnet cannot pause reading), and a client that pipelines
	// that far ahead without reading its answers is closed.
	DefaultMaxInbound = 4 << 20

	// DefaultMaxInFlight is the number of requests of one connection that
	// may be dispatched and unanswered at once (1024): far above what a
	// pipelining client keeps outstanding (Flink's client keeps everything
	// its caller sends), small enough to bound what one connection holds.
	DefaultMaxInFlight = 1024

	// DefaultHighWatermark is Flink's write-buffer high watermark (32 KiB):
	// with more answer bytes than this pending, a connection's requests are
	// no longer dispatched.
	DefaultHighWatermark = 32 << 10

	// DefaultLowWatermark is Flink's write-buffer low watermark (8 KiB):
	// a held-back connection resumes once its pending answers drain below it.
	DefaultLowWatermark = 8 << 10

	// DefaultDrainPoll is how often a connection that waits is looked at
	// again (1 ms): for room, during shutdown, and for its socket where its
	// EPOLLOUT cannot be had (not Linux); only connections that wait are
	// polled.
	DefaultDrainPoll = time.Millisecond

	// DefaultMaxOutbound is the most answer bytes the server holds or
	// builds for one connection (64 MiB, NATS' default max_pending): a
	// request whose answer does not fit waits (unanswered, its frame kept)
	// until the reader has taken enough. A client that reads has pending at
	// most the answers of its requests in flight plus two watermarks:
	// kilobytes to a few megabytes for typical values, far below the limit.
	DefaultMaxOutbound = 64 << 20

	// DefaultIdleTimeout closes a connection that has had no request and
	// nothing in flight for 5 minutes: clients that query every few seconds
	// or minutes keep their connection (Flink's client reconnects on its
	// next request anyway), while clients that vanished without a FIN (a
	// crashed host behind a NAT) give back their descriptor and buffers.
	DefaultIdleTimeout = 5 * time.Minute

	// DefaultStallTimeout closes a connection whose reader has taken none
	// of its waiting answers for 30 s (NATS closes a slow consumer whose
	// write blocks for 10 s): a client below MaxOutbound that stops reading
	// would otherwise pin its answers for ever, and a live reader, however
	// slow its link, takes some bytes within seconds.
	DefaultStallTimeout = 30 * time.Second

	// DefaultFrameTimeout is how long a connection may take to send its
	// first whole frame, and to finish a frame it began (10 s): a request
	// is tens of bytes, sent in one write; a client that dribbles or sends
	// nothing holds a descriptor and buffers, as slowloris does against
	// web servers (whose header timeouts are 10 to 60 s).
	DefaultFrameTimeout = 10 * time.Second

	// DefaultLogRate lets at most 10 connection warnings and errors per
	// second per server reach the log: enough to see what happens, too few
	// for a hostile client to flood the log; the rest are counted and
	// summed up once a second.
	DefaultLogRate = 10

	// maxSweepEvery is the longest pause between two sweeps for idle and
	// stalled connections (and suppressed-log summaries); a sweep runs at
	// least four times per timeout, so a connection closes between one and
	// one and a half timeouts after its last activity.
	maxSweepEvery = time.Second

	// fdReserve is the number of file descriptors kept free of client
	// connections when MaxConns is derived from the descriptor limit:
	// listeners, epoll and event fds, log files, outgoing connections.
	fdReserve = 256

	// maxEventLoops is gnet's limit on event loops per engine.
	maxEventLoops = 256
)

// Config configures a Server. The zero value is usable: every zero field
// takes the default named in its comment.
type Config struct {
	// Addr is "host:ports". Ports is a port, a range "9069-9079" or a list
	// of both "9069-9079,9090" (Flink's queryable-state port syntax); the
	// first port in the order given that binds is used. Port 0 picks a free
	// port. "" means DefaultAddr.
	Addr string

	// Name names the server in logs ("proxy", "state"). "" means "qstate".
	Name string

	// EventLoops is the number of gnet event loops. 0 means half of
	// GOMAXPROCS, at least one (defaultEventLoops); at most 256.
	EventLoops int

	// MaxFrameLen limits a request frame's length prefix (the bytes after
	// it), in bytes. A longer frame closes its connection. 0 means
	// codec.DefaultMaxFrameLen (4 MiB, the client's default too); at least
	// 16 (header and request id), at most 2^31-1.
	MaxFrameLen int

	// MaxInbound is the hard cap on bytes buffered from one connection; a
	// connection past it is closed. 0 means the larger of DefaultMaxInbound
	// and MaxFrameLen+4. It must hold one whole frame: at least MaxFrameLen+4.
	MaxInbound int

	// MaxInFlight is the number of requests of one connection dispatched
	// and not yet answered at once; more stay buffered until answers go out.
	// 0 means DefaultMaxInFlight.
	MaxInFlight int

	// MaxConns is the number of open connections; more are closed as soon
	// as they are accepted. 0 means half of the process's descriptor limit
	// (RLIMIT_NOFILE) less a reserve of 256, and at least 16: two servers
	// (proxy and state server) share the process, and an accept that fails
	// for want of descriptors (EMFILE) stops gnet's engine.
	MaxConns int

	// HighWatermark and LowWatermark bound a connection's pending answers
	// (bytes the kernel has not taken), in bytes. Above HighWatermark the
	// connection's requests are not dispatched until they drain below
	// LowWatermark. 0 means DefaultHighWatermark and DefaultLowWatermark;
	// Low must be below High.
	HighWatermark int
	LowWatermark  int

	// DrainPoll is how often a connection whose answers wait for its
	// socket is looked at again. 0 means DefaultDrainPoll.
	DrainPoll time.Duration

	// MaxOutbound is the most bytes of answers the server holds or builds
	// for one connection: answers not yet wholly taken by the kernel (one
	// written in part counts whole until its last byte), and the budgets given to the batches being answered (a
	// PartHandler builds its answers within its batch's budget and defers
	// the requests whose answers do not fit; they are dispatched again once
	// the reader has taken enough). What the kernel's socket buffer took is
	// not counted. A connection with nothing pending gets one answer of any
	// size, so a value larger than the limit is still answered (alone). No
	// connection is closed for this limit: a reader that takes nothing is
	// StallTimeout's. 0 means DefaultMaxOutbound; at least 2*HighWatermark.
	MaxOutbound int

	// IdleTimeout closes a connection (CloseIdle) that has had no request,
	// no request with the handler and no answer waiting for this long.
	// Bytes of an unfinished frame are not a request (a client dribbling a
	// frame is idle). The connection closes between IdleTimeout and
	// 1.5*IdleTimeout after its last activity. 0 means DefaultIdleTimeout;
	// negative disables it.
	IdleTimeout time.Duration

	// StallTimeout closes a connection (CloseSlowConsumer) whose answers
	// wait and whose reader has taken none of them for this long, however
	// few bytes wait: MaxOutbound bounds what a non-reader pins, this bounds
	// for how long. 0 means DefaultStallTimeout; negative disables it.
	StallTimeout time.Duration

	// LogRate is the most connection warnings and errors (closes for a
	// reason other than the peer or shutdown, slow consumers, gnet's errors)
	// logged per second; the others are counted in Stats.LogsSuppressed and
	// summed up in one "suppressed" line per second. Connection events at
	// Debug level are not limited. 0 means DefaultLogRate; negative means
	// no limit.
	LogRate int

	// FrameTimeout closes a connection (CloseFrameTimeout) that has sent
	// no whole frame this long after it opened, or whose unfinished frame
	// has not been completed for this long (lockout.go). 0 means
	// DefaultFrameTimeout; negative disables it.
	FrameTimeout time.Duration

	// MaxConnsPerAddr is the most connections open from one source
	// address. A new one past it evicts the address's oldest connection
	// that has not sent a whole frame yet (CloseEvicted), or is refused
	// (CloseConnLimit) when there is none. 0 means a quarter of MaxConns,
	// at least 16 (clients behind one NAT share an address).
	MaxConnsPerAddr int

	// ReservedConns is the number of connection slots kept for
	// connections that have sent a whole frame: at most
	// MaxConns-ReservedConns connections may be waiting for their first
	// one (the oldest makes way for a new one, CloseEvicted); and a new
	// connection when all MaxConns are open evicts the oldest of those
	// instead of being refused. 0 means MaxConns/16, at least 1; less than
	// MaxConns.
	ReservedConns int

	// MaxBufferedTotal is the server's memory budget, in bytes, for what
	// all its connections hold: requests read and not dispatched, answers
	// waiting and being built (budget.go). Past it, requests newly read are
	// answered at once with an "overloaded" failure, and the connections
	// holding the most are closed (CloseShed) until the server is back
	// under it. 0 means DefaultMaxBufferedTotal(); negative means none.
	MaxBufferedTotal int64

	// SocketSendBuffer sets SO_SNDBUF on accepted connections, in bytes:
	// the kernel's share of what a slow reader can make the server hold.
	// 0 keeps the system default (Linux then tunes it automatically).
	SocketSendBuffer int

	// Logger receives lifecycle, close-reason and backpressure logs (never
	// one per request). The zero value discards everything.
	Logger zerolog.Logger

	// ConnState, when set, is called as a connection changes state (see
	// ConnState), on the connection's event loop: it must return quickly
	// and must not call the Server. id is the connection's id in logs;
	// reason is meaningful for ConnClosed only. Tests wait on it instead of
	// polling; nil costs nothing. While it is set, a batch a pool worker
	// writes to the socket itself wakes the event loop, which reports Idle.
	ConnState func(id uint64, state ConnState, reason CloseReason)
}

// withDefaults returns a copy of c with every zero field set to its default.
func (c Config) withDefaults() Config {
	c.Addr = cmp.Or(c.Addr, DefaultAddr)
	c.Name = cmp.Or(c.Name, "qstate")
	c.EventLoops = cmp.Or(c.EventLoops, defaultEventLoops())
	c.MaxFrameLen = cmp.Or(c.MaxFrameLen, codec.DefaultMaxFrameLen)
	if c.MaxInbound == 0 && c.MaxFrameLen > 0 {
		c.MaxInbound = max(DefaultMaxInbound, c.MaxFrameLen+codec.LengthLen)
	}
	c.MaxInFlight = cmp.Or(c.MaxInFlight, DefaultMaxInFlight)
	c.MaxConns = cmp.Or(c.MaxConns, defaultMaxConns())
	c.HighWatermark = cmp.Or(c.HighWatermark, DefaultHighWatermark)
	c.LowWatermark = cmp.Or(c.LowWatermark, DefaultLowWatermark)
	c.DrainPoll = cmp.Or(c.DrainPoll, DefaultDrainPoll)
	c.MaxOutbound = cmp.Or(c.MaxOutbound, DefaultMaxOutbound)
	c.IdleTimeout = cmp.Or(c.IdleTimeout, DefaultIdleTimeout)
	c.StallTimeout = cmp.Or(c.StallTimeout, DefaultStallTimeout)
	c.LogRate = cmp.Or(c.LogRate, DefaultLogRate)
	c.MaxBufferedTotal = cmp.Or(c.MaxBufferedTotal, DefaultMaxBufferedTotal())
	c.FrameTimeout = cmp.Or(c.FrameTimeout, DefaultFrameTimeout)
	c.MaxConnsPerAddr = cmp.Or(c.MaxConnsPerAddr, max(16, c.MaxConns/4))
	c.ReservedConns = cmp.Or(c.ReservedConns, max(1, c.MaxConns/16))
	return c
}

// sweepEvery is the pause between two sweeps (idle.go): a quarter of the
// shorter enabled timeout, at most maxSweepEvery.
func (c Config) sweepEvery() time.Duration {
	every := maxSweepEvery
	for _, t := range []time.Duration{c.IdleTimeout, c.StallTimeout, c.FrameTimeout} {
		if t > 0 {
			every = min(every, max(t/4, time.Millisecond))
		}
	}
	return every
}

// defaultEventLoops is half of GOMAXPROCS, at least one. An event loop
// spends its idle time in epoll_wait, a system call that holds its P; with
// as many loops as Ps, all of them can be in epoll_wait at once, and the
// Go scheduler's monitor then retakes a P every 20 µs and never backs off
// (on the benchmark machine, 12-16% of the server's CPU in sysmon's
// nanosleep and the futex wake-ups that follow). Half the Ps keeps some
// idle for the pool workers and the runtime: with 2 cores, 1 loop cut the
// server's CPU per request by 10-25% against 2 (BENCHMARKS.md).
func defaultEventLoops() int {
	return min(max(1, runtime.GOMAXPROCS(0)/2), maxEventLoops)
}

// defaultMaxConns derives MaxConns from the descriptor limit (see Config.MaxConns).
func defaultMaxConns() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > math.MaxInt32 {
		return 1 << 14
	}
	return max(16, (int(rl.Cur)-fdReserve)/2)
}

// Validate reports every problem of c (after defaults) in one error; each
// wraps ErrConfig.
func (c Config) Validate() error {
	c = c.withDefaults()
	p := configcheck.New(ErrConfig)
	if _, _, err := parseAddr(c.Addr); err != nil {
		p.AddWrapped(err) // it wraps ErrConfig
	}
	if c.EventLoops < 0 || c.EventLoops > maxEventLoops {
		p.Addf("EventLoops %d not in 0..%d", c.EventLoops, maxEventLoops)
	}
	minFrame := codec.MinFrameLen(codec.Request)
	if c.MaxFrameLen < minFrame || int64(c.MaxFrameLen) > math.MaxInt32 {
		p.Addf("MaxFrameLen %d not in %d..%d", c.MaxFrameLen, minFrame, math.MaxInt32)
	}
	if c.MaxInbound < c.MaxFrameLen+codec.LengthLen {
		p.Addf("MaxInbound %d must hold one whole frame of MaxFrameLen %d plus its 4-byte prefix", c.MaxInbound, c.MaxFrameLen)
	}
	configcheck.NonNegative(p, "MaxInFlight", c.MaxInFlight)
	configcheck.NonNegative(p, "MaxConns", c.MaxConns)
	if c.HighWatermark < 0 || c.LowWatermark < 0 {
		p.Addf("watermarks low %d, high %d must not be negative", c.LowWatermark, c.HighWatermark)
	} else if c.LowWatermark >= c.HighWatermark {
		p.Addf("LowWatermark %d must be below HighWatermark %d", c.LowWatermark, c.HighWatermark)
	}
	configcheck.NonNegative(p, "DrainPoll", c.DrainPoll)
	configcheck.NonNegative(p, "MaxConnsPerAddr", c.MaxConnsPerAddr)
	if c.ReservedConns < 0 || (c.MaxConns > 0 && c.ReservedConns >= c.MaxConns) {
		p.Addf("ReservedConns %d not in 0..MaxConns-1 (%d)", c.ReservedConns, c.MaxConns-1)
	}
	configcheck.NonNegative(p, "SocketSendBuffer", c.SocketSendBuffer)
	// A connection is held back only above HighWatermark, with the answers
	// of its batches in flight still to come: a MaxOutbound below two
	// watermarks would leave a reader that keeps up no room for them.
	if c.HighWatermark > 0 && c.MaxOutbound < 2*c.HighWatermark {
		p.Addf("MaxOutbound %d must be at least twice HighWatermark %d", c.MaxOutbound, c.HighWatermark)
	}
	return p.Err()
}
