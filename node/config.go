package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/qstate/qstate/cluster"
	"github.com/qstate/qstate/handler"
	"github.com/qstate/qstate/internal/configcheck"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/server"
)

// Defaults for the zero fields of Config, with the reason for each value.
const (
	// DefaultAddr is where each port listens when its address is empty: a
	// free loopback port (server.DefaultAddr), so a zero Config is safe to
	// start anywhere (tests, an embedding task). Flink's own ports are 9069
	// (proxy) and 9067 (state server); `qstate serve` passes those.
	DefaultAddr = server.DefaultAddr

	// DefaultShutdownTimeout bounds the graceful stop Serve makes when its
	// context ends (10 s): long enough for requests in flight, forwarded
	// ones included (handler.DefaultRequestTimeout is 5 s), short enough
	// for a process manager's stop timeout.
	DefaultShutdownTimeout = 10 * time.Second
)

// Config configures a Node. The zero value is usable: every zero field
// takes the default its comment names. Validate reports every problem at
// once, each naming its field.
type Config struct {
	// ProxyAddr is the proxy port's "host:ports" (KvStateRequests, what
	// Flink's QueryableStateClient sends). Ports may be a port, a range
	// "9069-9079" or a list "9069-9079,9090": the first that binds is used.
	// "" means DefaultAddr.
	ProxyAddr string

	// StateAddr is the state-server port's "host:ports"
	// (KvStateInternalRequests, what a Flink proxy or another node's
	// forwarder sends), as ProxyAddr. "" means DefaultAddr.
	StateAddr string

	// Server holds the limits and settings both ports' servers share:
	// frame size, buffers, in-flight requests, connections, watermarks,
	// timeouts, event loops (server.Config; each zero field is the
	// server's default). Its Addr and Name are the node's to set (from
	// ProxyAddr, StateAddr): they must be empty. Its Logger is ignored
	// (the node passes Logger).
	Server server.Config

	// Dispatch says where look-ups run: handler.Auto (the zero value: the
	// pool, but a lone request on the event loop), handler.Pool or
	// handler.Inline (not with a Forwarder or Directory).
	Dispatch handler.Dispatch

	// PoolSize bounds the look-up workers both ports share; a batch that
	// finds them all busy is refused at once ("Server overloaded"). 0 means
	// handler.DefaultPoolSize.
	PoolSize int

	// RequestTimeout is a request's deadline from the moment its batch
	// reaches the handler: a forwarded request whose owner does not answer
	// by then fails, so a dead owner costs at most this. 0 means
	// handler.DefaultRequestTimeout.
	RequestTimeout time.Duration

	// Directory, if set, makes the node one of a cluster: requests for key
	// groups other nodes own (registered in the registry as remote, as
	// cluster.Apply does) are forwarded to their owners by a
	// cluster.Forwarder the node creates, which asks Directory again when a
	// location proves stale. The node closes that Forwarder in Shutdown;
	// Directory stays the caller's. Not with Forwarder.
	Directory cluster.Directory

	// ForwardAttempts is how many times the node's Forwarder sends a
	// request at most (with Directory). 0 means cluster.DefaultMaxAttempts.
	ForwardAttempts int

	// Forwarder, if set, answers requests for key groups other nodes own,
	// instead of one the node creates from Directory. It stays the
	// caller's (the node never closes it). Not with Directory.
	Forwarder handler.Forwarder

	// Registerer, if set, receives the node's collector (connections,
	// requests by result, close reasons, backpressure, pool levels, the
	// request latency histograms: package metrics) when New succeeds; it
	// is unregistered in Shutdown. nil: no metrics, and nothing observes
	// batches.
	Registerer prometheus.Registerer

	// ShutdownTimeout bounds the graceful stop Serve makes when its
	// context ends. 0 means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration

	// Logger receives the lifecycle logs of the node, its servers, its
	// handler and its Forwarder (never one line per request). The zero
	// value logs nothing.
	Logger zerolog.Logger
}

// withDefaults returns a copy of c with the node's own zero fields set
// (the servers', handler's and Forwarder's defaults are theirs to apply).
func (c Config) withDefaults() Config {
	c.ProxyAddr = cmp.Or(c.ProxyAddr, DefaultAddr)
	c.StateAddr = cmp.Or(c.StateAddr, DefaultAddr)
	c.ShutdownTimeout = cmp.Or(c.ShutdownTimeout, DefaultShutdownTimeout)
	return c
}

// Validate reports every problem of c (after defaults) in one error; each
// wraps ErrConfig and names its field (Server.MaxFrameLen, ProxyAddr,
// PoolSize, ...).
func (c Config) Validate() error {
	c = c.withDefaults()
	p := configcheck.New(ErrConfig)
	if c.Server.Addr != "" {
		p.Add("Server.Addr", errors.New("set ProxyAddr and StateAddr instead"))
	}
	if c.Server.Name != "" {
		p.Add("Server.Name", errors.New("the node names its servers (proxy, state)"))
	}
	shared := c.Server
	shared.Addr, shared.Name = "", ""
	if err := shared.Validate(); err != nil {
		p.Add("Server", err)
	}
	for field, addr := range map[string]string{"ProxyAddr": c.ProxyAddr, "StateAddr": c.StateAddr} {
		if err := (server.Config{Addr: addr}).Validate(); err != nil {
			p.Add(field, err)
		}
	}
	// handler's errors name the fields (Dispatch, PoolSize,
	// RequestTimeout), which are Config's too. The registry is New's
	// argument, not Config's: any will do here.
	hc := c.handlerConfig(registry.New(), c.Forwarder)
	if c.Directory != nil {
		hc.Forwarder = directoryForwarder{} // what New makes of it: a Forwarder
	}
	if err := hc.Validate(); err != nil {
		p.Addf("%w", err)
	}
	if c.Directory != nil && c.Forwarder != nil {
		p.Add("Forwarder", errors.New("set Directory or Forwarder, not both"))
	}
	if c.ForwardAttempts != 0 {
		if err := (cluster.ForwarderConfig{MaxAttempts: c.ForwardAttempts}).Validate(); err != nil {
			p.Add("ForwardAttempts", err)
		}
	}
	if c.ShutdownTimeout < 0 {
		p.Add("ShutdownTimeout", fmt.Errorf("%v is negative", c.ShutdownTimeout))
	}
	return p.Err()
}

// handlerConfig is the handler.Config of the node for reg and fwd.
func (c Config) handlerConfig(reg *registry.Registry, fwd handler.Forwarder) handler.Config {
	return handler.Config{
		Registry:       reg,
		Dispatch:       c.Dispatch,
		PoolSize:       c.PoolSize,
		RequestTimeout: c.RequestTimeout,
		Forwarder:      fwd,
		Logger:         c.Logger,
	}
}

// serverConfig is the server.Config of one port.
func (c Config) serverConfig(name, addr string) server.Config {
	s := c.Server
	s.Addr, s.Name, s.Logger = addr, name, c.Logger
	return s
}

// directoryForwarder stands, in Validate, for the cluster.Forwarder New
// makes from Directory (so that handler checks it against Dispatch).
type directoryForwarder struct{}

func (directoryForwarder) Forward(context.Context, registry.Owner, registry.JobID, []byte, int32, []byte) ([]byte, error) {
	return nil, errors.New("node: placeholder forwarder")
}
