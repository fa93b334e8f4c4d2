package client

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"time"

	"github.com/rs/zerolog"

	"github.com/qstate/qstate/codec"
)

// Defaults for the zero fields of Config.
const (
	// DefaultDialTimeout bounds a connection attempt: long enough for a
	// loaded TaskManager across a WAN, short enough that queued calls
	// without a deadline learn about a dead address.
	DefaultDialTimeout = 5 * time.Second
	// DefaultMaxInFlight bounds requests waiting on one connection. The Java
	// client has no bound; 65536 is far above what one TCP connection serves
	// with useful latency, and bounds the client's memory.
	DefaultMaxInFlight = 1 << 16
	// DefaultReadBufferSize is the read buffer each connection starts with:
	// it holds many small pipelined responses, so one read syscall serves
	// many calls. Larger frames get a buffer of their own size, released
	// after use.
	DefaultReadBufferSize = 64 << 10
)

// minFrameLen is the smallest useful frame limit: a REQUEST_RESULT frame
// with empty content (header, request id, content length).
const minFrameLen = codec.HeaderLen + codec.RequestIDLen + 4

// Config configures a Client. The zero value is usable; each field says
// what zero means.
type Config struct {
	// DialTimeout bounds each connection attempt. Zero means
	// DefaultDialTimeout. Calls waiting for the connection also end at their
	// own context's deadline.
	DialTimeout time.Duration
	// MaxFrameLen bounds the length prefix of a frame from the server, in
	// bytes. A longer frame breaks the connection (Flink itself accepts up
	// to 2^31-1). Zero means codec.DefaultMaxFrameLen (4 MiB).
	MaxFrameLen int
	// MaxInFlight bounds the requests waiting on one connection (queued,
	// sent, not yet answered). A call beyond it fails at once with
	// ErrTooManyInFlight. Zero means DefaultMaxInFlight.
	MaxInFlight int
	// ReadBufferSize is each connection's initial read buffer, in bytes.
	// Zero means DefaultReadBufferSize. It is capped at MaxFrameLen plus
	// the length prefix.
	ReadBufferSize int
	// Logger receives connection events (connected, broken, closed), never
	// one line per request. The zero value logs nothing.
	Logger zerolog.Logger
	// Dial, when set, opens connections instead of a net.Dialer (for
	// tunnels, tests, custom socket options). It must honour ctx, which
	// carries DialTimeout and ends when the Client closes.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// withDefaults returns a copy of cfg with zero fields filled in.
func (cfg Config) withDefaults() Config {
	cfg.DialTimeout = cmp.Or(cfg.DialTimeout, DefaultDialTimeout)
	cfg.MaxFrameLen = cmp.Or(cfg.MaxFrameLen, codec.DefaultMaxFrameLen)
	cfg.MaxInFlight = cmp.Or(cfg.MaxInFlight, DefaultMaxInFlight)
	cfg.ReadBufferSize = cmp.Or(cfg.ReadBufferSize, DefaultReadBufferSize)
	if cfg.MaxFrameLen >= minFrameLen && cfg.ReadBufferSize > cfg.MaxFrameLen+codec.LengthLen {
		cfg.ReadBufferSize = cfg.MaxFrameLen + codec.LengthLen
	}
	if cfg.Dial == nil {
		var d net.Dialer
		cfg.Dial = d.DialContext
	}
	return cfg
}

// Validate reports every problem of cfg (after defaults) in one error.
func (cfg Config) Validate() error {
	cfg = cfg.withDefaults()
	var errs []error
	if cfg.DialTimeout < 0 {
		errs = append(errs, fmt.Errorf("client: DialTimeout %v is negative", cfg.DialTimeout))
	}
	if cfg.MaxFrameLen < minFrameLen || cfg.MaxFrameLen > math.MaxInt32 {
		errs = append(errs, fmt.Errorf("client: MaxFrameLen %d is outside [%d, %d]", cfg.MaxFrameLen, minFrameLen, math.MaxInt32))
	}
	if cfg.MaxInFlight < 1 {
		errs = append(errs, fmt.Errorf("client: MaxInFlight %d is below 1", cfg.MaxInFlight))
	}
	if cfg.ReadBufferSize < codec.LengthLen+minFrameLen {
		errs = append(errs, fmt.Errorf("client: ReadBufferSize %d is below %d", cfg.ReadBufferSize, codec.LengthLen+minFrameLen))
	}
	return errors.Join(errs...)
}
