package server

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/qstate/qstate/codec"
)

// Defaults for the zero fields of Config, with the reason for each value.
const (
	// DefaultAddr listens on a free loopback port: a zero Config is safe to
	// start anywhere (tests, embedding); the qstate binary passes Flink's
	// ports (9069 proxy, 9067 state server) explicitly.
	DefaultAddr = "127.0.0.1:0"

	// DefaultMaxFrameLen limits a request frame's length prefix to 1 MiB.
	// A request carries one serialized key (Flink accepts 2^31-1); keys are
	// bytes to tens of bytes, and the limit bounds what one connection can
	// make the server buffer.
	DefaultMaxFrameLen = 1 << 20

	// DefaultMaxInbound is the hard cap on bytes buffered from one
	// connection (4 MiB): inbound data keeps arriving while a connection
	// is held back (gnet cannot pause reading), and a client that pipelines
	// that far ahead without reading its answers is closed.
	DefaultMaxInbound = 4 << 20

	// DefaultMaxInFlight is the number of requests of one connection that
	// may be dispatched and unanswered at once (1024): far above what a
	// pipelining client keeps outstanding (Flink's client keeps everything
	// its caller sends), small enough to bound what one connection holds.
	DefaultMaxInFlight = 1024

	// DefaultHighWatermark is Flink's write-buffer high watermark (32 KiB):
	// above it a connection's requests are no longer dispatched, and larger
	// responses go out in chunks of this size.
	DefaultHighWatermark = 32 << 10

	// DefaultLowWatermark is Flink's write-buffer low watermark (8 KiB):
	// a held-back connection resumes once its outbound buffer drains below it.
	DefaultLowWatermark = 8 << 10

	// DefaultDrainPoll is how often a connection waiting for its outbound
	// buffer to drain is looked at again (1 ms): gnet raises no event when
	// it drains, so the server polls, and only connections that wait.
	DefaultDrainPoll = time.Millisecond

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

	// EventLoops is the number of gnet event loops. 0 means one per CPU
	// (runtime.NumCPU); at most 256.
	EventLoops int

	// MaxFrameLen limits a request frame's length prefix (the bytes after
	// it), in bytes. A longer frame closes its connection. 0 means
	// DefaultMaxFrameLen; at least 16 (header and request id), at most 2^31-1.
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

	// HighWatermark and LowWatermark bound a connection's outbound buffer,
	// in bytes. Above HighWatermark the connection's requests are not
	// dispatched until the buffer drains below LowWatermark; a response
	// larger than HighWatermark goes out in HighWatermark-sized chunks, the
	// next one only while the connection is below the mark. 0 means
	// DefaultHighWatermark and DefaultLowWatermark; Low must be below High.
	HighWatermark int
	LowWatermark  int

	// DrainPoll is how often a connection waiting for its outbound buffer
	// to drain is looked at again. 0 means DefaultDrainPoll.
	DrainPoll time.Duration

	// SocketSendBuffer sets SO_SNDBUF on accepted connections, in bytes:
	// the kernel's share of what a slow reader can make the server hold.
	// 0 keeps the system default (Linux then tunes it automatically).
	SocketSendBuffer int

	// Logger receives lifecycle, close-reason and backpressure logs (never
	// one per request). The zero value discards everything.
	Logger zerolog.Logger
}

// withDefaults returns a copy of c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.Name == "" {
		c.Name = "qstate"
	}
	if c.EventLoops == 0 {
		c.EventLoops = min(runtime.NumCPU(), maxEventLoops)
	}
	if c.MaxFrameLen == 0 {
		c.MaxFrameLen = DefaultMaxFrameLen
	}
	if c.MaxInbound == 0 && c.MaxFrameLen > 0 {
		c.MaxInbound = max(DefaultMaxInbound, c.MaxFrameLen+codec.LengthLen)
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.MaxConns == 0 {
		c.MaxConns = defaultMaxConns()
	}
	if c.HighWatermark == 0 {
		c.HighWatermark = DefaultHighWatermark
	}
	if c.LowWatermark == 0 {
		c.LowWatermark = DefaultLowWatermark
	}
	if c.DrainPoll == 0 {
		c.DrainPoll = DefaultDrainPoll
	}
	return c
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
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	if _, _, err := parseAddr(c.Addr); err != nil {
		errs = append(errs, err)
	}
	if c.EventLoops < 0 || c.EventLoops > maxEventLoops {
		bad("EventLoops %d not in 0..%d", c.EventLoops, maxEventLoops)
	}
	minFrame := codec.MinFrameLen(codec.Request)
	if c.MaxFrameLen < minFrame || int64(c.MaxFrameLen) > math.MaxInt32 {
		bad("MaxFrameLen %d not in %d..%d", c.MaxFrameLen, minFrame, math.MaxInt32)
	}
	if c.MaxInbound < c.MaxFrameLen+codec.LengthLen {
		bad("MaxInbound %d must hold one whole frame of MaxFrameLen %d plus its 4-byte prefix", c.MaxInbound, c.MaxFrameLen)
	}
	if c.MaxInFlight < 0 {
		bad("MaxInFlight %d is negative", c.MaxInFlight)
	}
	if c.MaxConns < 0 {
		bad("MaxConns %d is negative", c.MaxConns)
	}
	if c.HighWatermark < 0 || c.LowWatermark < 0 {
		bad("watermarks low %d, high %d must not be negative", c.LowWatermark, c.HighWatermark)
	} else if c.LowWatermark >= c.HighWatermark {
		bad("LowWatermark %d must be below HighWatermark %d", c.LowWatermark, c.HighWatermark)
	}
	if c.DrainPoll < 0 {
		bad("DrainPoll %v is negative", c.DrainPoll)
	}
	if c.SocketSendBuffer < 0 {
		bad("SocketSendBuffer %d is negative", c.SocketSendBuffer)
	}
	return errors.Join(errs...)
}
