package main

// The operations side of `qstate serve` (issue #8): limits as flags,
// configuration from flags, QSTATE_* environment variables and a JSON
// file, logging, and the admin HTTP port (metrics, pprof).
//
// Precedence, highest first: a flag on the command line, then its QSTATE_*
// environment variable, then the --config file, then the flag's default.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/handler"
	"github.com/qstate/qstate/metrics"
	"github.com/qstate/qstate/node"
	"github.com/qstate/qstate/server"
)

// DefaultAdminAddr is where the admin HTTP server listens by default: a
// loopback address, because pprof can profile and trace the process.
const DefaultAdminAddr = "127.0.0.1:9249"

// opsFlags are the serve flags for configuration, logs, the admin port and
// every server and handler limit. serveCmd embeds them. Each zero value
// means the server's or handler's default, so a serveCmd built in code
// (tests) works without them. The defaults in the tags are the server's
// and handler's constants, written out so that --help shows them
// (TestFlagDefaults checks that they agree).
type opsFlags struct {
	Config kong.ConfigFlag `env:"QSTATE_CONFIG" placeholder:"FILE" help:"JSON file of settings: an object whose keys are serve flag names without the leading dashes (\"max-conns\": 1000). A flag on the command line overrides its QSTATE_* environment variable, which overrides the file. Unknown keys are an error."`

	Admin     string `default:"127.0.0.1:9249" env:"QSTATE_ADMIN" help:"Admin HTTP address: Prometheus /metrics and Go's /debug/pprof/. Empty (--admin \"\") turns it off. Keep it on a loopback or protected address."`
	LogFormat string `default:"auto" enum:"auto,json,console" env:"QSTATE_LOG_FORMAT" help:"Log format on stderr: ${enum}. auto: console when stderr is a terminal, else JSON lines."`

	EventLoops       int           `default:"0" env:"QSTATE_EVENT_LOOPS" group:"Limits" help:"gnet event loops per port (0: half of GOMAXPROCS, at least 1; at most 256)."`
	PoolSize         int           `default:"4096" env:"QSTATE_POOL_SIZE" group:"Limits" help:"Look-up pool workers, shared by both ports. When all are busy a batch is refused at once: each request fails with 'Server overloaded' (0: 4096)."`
	MaxConns         int           `default:"0" env:"QSTATE_MAX_CONNS" group:"Limits" help:"Open connections per port; more are closed as soon as accepted (0: half the descriptor limit less 256)."`
	MaxFrame         int           `default:"4194304" env:"QSTATE_MAX_FRAME" group:"Limits" help:"Largest request frame in bytes (its length prefix); a longer one closes the connection (0: 4194304)."`
	MaxInbound       int           `default:"0" env:"QSTATE_MAX_INBOUND" group:"Limits" help:"Bytes buffered from one connection not yet dispatched; requests past it are answered at once with a retryable failure naming the limit (pushback) (0: the larger of 4194304 and --max-frame + 4)."`
	MaxInFlight      int           `default:"1024" env:"QSTATE_MAX_IN_FLIGHT" group:"Limits" help:"Requests of one connection dispatched and not yet answered; more wait in its buffer (0: 1024)."`
	HighWatermark    int           `default:"32768" env:"QSTATE_HIGH_WATERMARK" group:"Limits" help:"Outbound bytes of one connection above which its requests stop being dispatched (backpressure); larger answers go out in chunks of this size (0: 32768)."`
	LowWatermark     int           `default:"8192" env:"QSTATE_LOW_WATERMARK" group:"Limits" help:"Outbound bytes below which a held-back connection resumes (0: 8192); must be below --high-watermark."`
	MaxOutbound      int           `default:"67108864" env:"QSTATE_MAX_OUTBOUND" group:"Limits" help:"Answer bytes held or being built for one connection; a request whose answer does not fit waits until the client has read enough (0: 67108864); at least twice --high-watermark."`
	IdleTimeout      time.Duration `default:"5m" env:"QSTATE_IDLE_TIMEOUT" group:"Limits" help:"Close a connection that had no request and nothing in flight for this long (0: 5m; negative: never)."`
	StallTimeout     time.Duration `default:"30s" env:"QSTATE_STALL_TIMEOUT" group:"Limits" help:"Close as a slow consumer a connection whose client took none of its waiting answers for this long (0: 30s; negative: never)."`
	FrameTimeout     time.Duration `default:"10s" env:"QSTATE_FRAME_TIMEOUT" group:"Limits" help:"Close a connection that sent no whole frame this long after opening, or left a frame half-sent this long (0: 10s; negative: never)."`
	MaxConnsPerAddr  int           `default:"0" env:"QSTATE_MAX_CONNS_PER_ADDR" group:"Limits" help:"Open connections per port from one source address; a new one past it evicts the address's oldest connection that has sent no whole frame, else is refused (0: a quarter of --max-conns, at least 16)."`
	ReservedConns    int           `default:"0" env:"QSTATE_RESERVED_CONNS" group:"Limits" help:"Connection slots per port kept for clients that have sent a whole frame (0: --max-conns/16, at least 1)."`
	MaxBufferedTotal int64         `default:"0" env:"QSTATE_MAX_BUFFERED_TOTAL" group:"Limits" help:"Memory budget per port in bytes for all connections' buffered requests and answers; past it new requests are answered 'overloaded' at once and the connections holding the most are closed (0: a sixteenth of --memory-limit, GOMEMLIMIT or the machine's memory, between 32 MiB and 256 MiB; negative: none)."`
	MemoryLimit      int64         `default:"0" env:"QSTATE_MEMORY_LIMIT" group:"Limits" help:"Go's soft memory limit in bytes (debug.SetMemoryLimit): the garbage collector works harder near it (0: GOMEMLIMIT, or none)."`
	LogRate          int           `default:"10" env:"QSTATE_LOG_RATE" help:"Connection warnings and errors logged per second and port; the rest are counted and summed up once a second (0: 10; negative: no limit)."`
	SocketSendBuffer int           `default:"0" env:"QSTATE_SOCKET_SEND_BUFFER" group:"Limits" help:"SO_SNDBUF of accepted connections in bytes (0: the system's, auto-tuned)."`

	adminReady func(net.Addr) // tests: called with the admin address once it listens
}

// Validate checks the serve settings once, after flags, environment and
// file are combined (kong calls it), and reports every problem in one
// error, each naming its flag.
func (c *serveCmd) Validate() error {
	var errs []error
	bad := func(flag, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s: "+format, append([]any{flag}, args...)...))
	}
	o := &c.opsFlags
	if c.LogLevel != "" && !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		bad("log-level", "%q is not debug, info, warn or error", c.LogLevel)
	}
	if c.Dispatch != handler.Pool && c.Dispatch != handler.Inline && c.Dispatch != handler.Auto {
		bad("dispatch", "%v is not auto, pool or inline", c.Dispatch)
	}
	if o.Admin != "" {
		if _, port, err := net.SplitHostPort(o.Admin); err != nil {
			bad("admin", "%q is not HOST:PORT (%v)", o.Admin, err)
		} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			bad("admin", "port %q of %q is not a number in 0..65535", port, o.Admin)
		}
	}
	if o.LogFormat != "" && !slices.Contains([]string{"auto", "json", "console"}, o.LogFormat) {
		bad("log-format", "%q is not auto, json or console", o.LogFormat)
	}
	if o.EventLoops < 0 || o.EventLoops > 256 {
		bad("event-loops", "%d is not in 0..256", o.EventLoops)
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"pool-size", o.PoolSize}, {"max-conns", o.MaxConns}, {"max-in-flight", o.MaxInFlight},
		{"socket-send-buffer", o.SocketSendBuffer},
	} {
		if f.v < 0 {
			bad(f.name, "%d is negative", f.v)
		}
	}
	const minFrame = 16 // header and request id: codec.MinFrameLen(codec.Request)
	maxFrame := cmpOr(o.MaxFrame, codec.DefaultMaxFrameLen)
	if o.MaxFrame != 0 && (o.MaxFrame < minFrame || int64(o.MaxFrame) > math.MaxInt32) {
		bad("max-frame", "%d is not in %d..%d (a request's header and id need %d bytes)", o.MaxFrame, minFrame, math.MaxInt32, minFrame)
	}
	if o.MaxInbound < 0 {
		bad("max-inbound", "%d is negative", o.MaxInbound)
	} else if o.MaxInbound != 0 && o.MaxInbound < maxFrame+4 {
		bad("max-inbound", "%d must hold one whole frame: at least --max-frame (%d) + 4", o.MaxInbound, maxFrame)
	}
	high := cmpOr(o.HighWatermark, server.DefaultHighWatermark)
	low := cmpOr(o.LowWatermark, server.DefaultLowWatermark)
	switch {
	case o.HighWatermark < 0:
		bad("high-watermark", "%d is negative", o.HighWatermark)
	case o.LowWatermark < 0:
		bad("low-watermark", "%d is negative", o.LowWatermark)
	case high <= low:
		bad("high-watermark", "%d must be above --low-watermark (%d)", high, low)
	}
	if o.MaxOutbound < 0 {
		bad("max-outbound", "%d is negative", o.MaxOutbound)
	} else if out := cmpOr(o.MaxOutbound, server.DefaultMaxOutbound); high > 0 && out < 2*high {
		bad("max-outbound", "%d must be at least twice --high-watermark (%d)", out, high)
	}
	if c.Keys < 0 {
		bad("keys", "%d is negative", c.Keys)
	}
	if c.ValueSize < 0 {
		bad("value-size", "%d is negative", c.ValueSize)
	}
	if c.ShutdownTimeout < 0 {
		bad("shutdown-timeout", "%v is negative", c.ShutdownTimeout)
	}
	if c.DemoInterval < 0 {
		bad("demo-interval", "%v is negative", c.DemoInterval)
	}
	errs = append(errs, c.validateStore()...)
	return errors.Join(errs...)
}

// cmpOr returns v, or def when v is 0.
func cmpOr(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// nodeConfig is the node.Config of serve: its addresses, the limits both
// ports share, dispatch, pool, deadline and shutdown timeout.
func (c *serveCmd) nodeConfig(proxyAddr, stateAddr string, log zerolog.Logger) node.Config {
	o := &c.opsFlags
	return node.Config{
		ProxyAddr: proxyAddr,
		StateAddr: stateAddr,
		Server: server.Config{
			EventLoops:       o.EventLoops,
			MaxFrameLen:      o.MaxFrame,
			MaxInbound:       o.MaxInbound,
			MaxInFlight:      o.MaxInFlight,
			MaxConns:         o.MaxConns,
			HighWatermark:    o.HighWatermark,
			LowWatermark:     o.LowWatermark,
			MaxOutbound:      o.MaxOutbound,
			IdleTimeout:      o.IdleTimeout,
			StallTimeout:     o.StallTimeout,
			FrameTimeout:     o.FrameTimeout,
			MaxConnsPerAddr:  o.MaxConnsPerAddr,
			ReservedConns:    o.ReservedConns,
			MaxBufferedTotal: o.MaxBufferedTotal,
			LogRate:          o.LogRate,
			SocketSendBuffer: o.SocketSendBuffer,
		},
		Dispatch:        c.Dispatch,
		PoolSize:        o.PoolSize,
		RequestTimeout:  c.ForwardTimeout,
		ShutdownTimeout: c.ShutdownTimeout,
		Logger:          log,
	}
}

// newMetricsRegistry returns the registry the admin port shows (the Go
// runtime's collectors; the node adds its own), or nil when the admin port
// is off.
func (o *opsFlags) newMetricsRegistry() (*prometheus.Registry, error) {
	if o.Admin == "" {
		return nil, nil
	}
	reg := prometheus.NewRegistry()
	if err := metrics.RegisterRuntime(reg); err != nil {
		return nil, err
	}
	return reg, nil
}

// newLogger returns the logger serve writes to w: JSON lines, or
// zerolog's console format ("auto": console when tty, the caller's
// finding that w is a terminal), at the level --log-level names.
func newLogger(w io.Writer, format, level string, tty bool) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(cmpOrString(level, "info"))
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("--log-level: %w", err)
	}
	switch cmpOrString(format, "auto") {
	case "auto":
		if tty {
			w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
		}
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339, NoColor: !tty}
	case "json":
	default:
		return zerolog.Nop(), fmt.Errorf("--log-format: %q is not auto, json or console", format)
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

func cmpOrString(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// isTerminal reports whether f is a terminal (a character device).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// adminServer is the admin HTTP server: mx's /metrics and /debug/pprof/.
type adminServer struct {
	srv  *http.Server
	addr net.Addr
	done chan error
}

// startAdmin serves reg's /metrics and Go's /debug/pprof/ on --admin. It
// returns nil when reg is nil (the admin port is off).
func (o *opsFlags) startAdmin(reg *prometheus.Registry, log zerolog.Logger) (*adminServer, error) {
	if reg == nil {
		return nil, nil
	}
	ln, err := net.Listen("tcp", o.Admin)
	if err != nil {
		return nil, fmt.Errorf("--admin: %w", err)
	}
	a := &adminServer{
		srv: &http.Server{
			Handler:           metrics.NewHandler(reg),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
		},
		addr: ln.Addr(),
		done: make(chan error, 1),
	}
	go func() { a.done <- a.srv.Serve(ln) }()
	log.Info().Str("admin", a.addr.String()).Msg("admin HTTP: /metrics, /debug/pprof/")
	if o.adminReady != nil {
		o.adminReady(a.addr)
	}
	return a, nil
}

// shutdown stops the admin server (a nil one is off): it stops listening,
// lets scrapes in progress finish until ctx ends, and waits for Serve.
func (a *adminServer) shutdown(ctx context.Context) error {
	if a == nil {
		return nil
	}
	err := a.srv.Shutdown(ctx)
	if err != nil {
		_ = a.srv.Close()
	}
	if serr := <-a.done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	return nil
}

// loadConfig is the --config loader (kong.Configuration): a JSON object
// whose keys are serve flag names. Values are strings, numbers or
// booleans, read as the flag's text would be ("10s", 65536, true).
func loadConfig(r io.Reader) (kong.Resolver, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("not a JSON object of settings: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("not a JSON object of settings: data after the object")
	}
	values := make(map[string]string, len(raw))
	var errs []error
	for k, v := range raw {
		switch v := v.(type) {
		case string:
			values[k] = v
		case json.Number:
			values[k] = v.String()
		case bool:
			values[k] = strconv.FormatBool(v)
		default:
			errs = append(errs, fmt.Errorf("%q: want a string, number or boolean, got %T", k, v))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &fileResolver{values: values}, nil
}

// fileResolver supplies flag values from a --config file, for flags set
// neither on the command line (kong does not ask for those) nor by their
// environment variable (it declines those).
type fileResolver struct {
	values map[string]string
}

// Validate rejects keys that are not serve flags (a misspelt key would
// otherwise be silently ignored).
func (f *fileResolver) Validate(app *kong.Application) error {
	known := map[string]bool{}
	for _, n := range app.Children {
		if n.Name != "serve" {
			continue
		}
		for _, fl := range n.Flags {
			known[fl.Name] = true
		}
	}
	var unknown []string
	for k := range f.values {
		if !known[k] || k == "config" || k == "help" {
			unknown = append(unknown, strconv.Quote(k))
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("--config: unknown settings %s (keys are serve flag names, such as \"max-conns\")", strings.Join(unknown, ", "))
	}
	return nil
}

// Resolve returns the file's value for flag, unless one of its
// environment variables is set (the environment overrides the file).
func (f *fileResolver) Resolve(_ *kong.Context, _ *kong.Path, flag *kong.Flag) (any, error) {
	if flag.Name == "config" || flag.Name == "help" {
		return nil, nil
	}
	v, ok := f.values[flag.Name]
	if !ok {
		return nil, nil
	}
	for _, env := range flag.Envs {
		if _, set := os.LookupEnv(env); set {
			return nil, nil
		}
	}
	return v, nil
}
