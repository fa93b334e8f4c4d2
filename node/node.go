package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/qstate/qstate/cluster"
	"github.com/qstate/qstate/handler"
	"github.com/qstate/qstate/metrics"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/server"
)

// Errors of a Node's lifecycle and configuration; callers tell them apart
// with errors.Is.
var (
	// ErrNodeClosed is returned by Start, Serve and Shutdown once Shutdown
	// has been called, and by Start and Serve on a node that already
	// started: a Node serves once.
	ErrNodeClosed = errors.New("node: closed")
	// ErrConfig reports an invalid Config; Validate wraps it once per problem.
	ErrConfig = errors.New("node: invalid config")
)

// Node is one serving qstate node: a proxy port and a state-server port
// answering from one registry, with one look-up pool, optionally one of a
// cluster and exposed to Prometheus. Create it with New; it serves once.
type Node struct {
	cfg   Config
	log   zerolog.Logger
	h     *handler.Handler
	proxy *server.Server
	state *server.Server
	fwd   *cluster.Forwarder // created from Config.Directory; nil otherwise
	mx    prometheus.Collector

	mu       sync.Mutex // guards started, shutdown
	started  bool
	shutdown bool

	serveErr chan error    // one value per port whose Serve returned
	ready    chan struct{} // closed when both ports listen, or start failed
	stopped  chan struct{} // closed when Shutdown has finished
	stopErr  error         // Shutdown's result, set before stopped closes
	stopOnce sync.Once
}

// New returns a node that serves reg as cfg says, not yet listening:
// Start or Serve it, and Shutdown it in any case (Shutdown releases the
// pool even of a node that never started). It returns an error wrapping
// ErrConfig when cfg is invalid or reg is nil, or the error of registering
// the node's metrics in cfg.Registerer.
func New(reg *registry.Registry, cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if reg == nil {
		return nil, fmt.Errorf("%w: nil registry", ErrConfig)
	}
	cfg = cfg.withDefaults()
	n := &Node{
		cfg:      cfg,
		log:      cfg.Logger.With().Str("component", "node").Logger(),
		serveErr: make(chan error, 2),
		ready:    make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	fwd := cfg.Forwarder
	if cfg.Directory != nil {
		f, err := cluster.NewForwarder(cluster.ForwarderConfig{Directory: cfg.Directory,
			MaxAttempts: cfg.ForwardAttempts, Logger: cfg.Logger})
		if err != nil {
			return nil, err
		}
		n.fwd, fwd = f, f
	}
	hcfg := cfg.handlerConfig(reg, fwd)
	var mx *metrics.Metrics
	if cfg.Registerer != nil {
		var err error
		if mx, err = metrics.New(metrics.Config{NoRuntime: true}); err != nil {
			return nil, errors.Join(err, n.closeForwarder())
		}
		hcfg.Observer = mx
	}
	h, err := handler.New(hcfg)
	if err != nil {
		return nil, errors.Join(err, n.closeForwarder())
	}
	n.h = h
	// New fails only for an invalid config, which Validate has ruled out.
	if n.proxy, err = server.New(cfg.serverConfig(handler.ProxyPort.String(), cfg.ProxyAddr), h.Proxy()); err == nil {
		n.state, err = server.New(cfg.serverConfig(handler.StatePort.String(), cfg.StateAddr), h.StateServer())
	}
	if err != nil {
		return nil, errors.Join(err, h.Close(context.Background()), n.closeForwarder())
	}
	if mx != nil {
		mx.WatchServer(handler.ProxyPort.String(), n.proxy)
		mx.WatchServer(handler.StatePort.String(), n.state)
		mx.WatchEndpoint(h.Proxy())
		mx.WatchEndpoint(h.StateServer())
		mx.WatchPool(h)
		if err := cfg.Registerer.Register(mx.Collector()); err != nil {
			return nil, errors.Join(fmt.Errorf("node: register metrics: %w", err),
				h.Close(context.Background()), n.closeForwarder())
		}
		n.mx = mx.Collector()
	}
	return n, nil
}

// Start starts both ports and returns once both listen (Ready is then
// closed and Addrs set), or with the error that kept one from listening
// (server.ErrPortsInUse, for one), after stopping the other. If ctx ends
// first it returns ctx.Err(); the node keeps starting, and Shutdown stops
// it. After Start the node serves until Shutdown. A Node starts once:
// Start or Serve again returns ErrNodeClosed.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	if n.started || n.shutdown {
		n.mu.Unlock()
		return ErrNodeClosed
	}
	n.started = true
	n.mu.Unlock()

	for _, s := range []*server.Server{n.proxy, n.state} {
		go func() { n.serveErr <- s.Serve() }()
	}
	go func() {
		<-n.proxy.Ready()
		<-n.state.Ready()
		close(n.ready)
	}()
	select {
	case <-n.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	if n.proxy.Addr() != nil && n.state.Addr() != nil {
		proxy, state := n.Addrs()
		n.log.Info().Stringer("proxy", proxy).Stringer("state", state).
			Stringer("dispatch", n.cfg.Dispatch).Msg("serving")
		return nil
	}
	// A port did not bind: its Serve returned the reason.
	err := <-n.serveErr
	n.serveErr <- err // Shutdown collects every port's return
	sctx, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownTimeout)
	defer cancel()
	return errors.Join(err, n.Shutdown(sctx))
}

// Serve starts the node (as Start) and serves until it stops: it returns
// ErrNodeClosed once Shutdown has been called (as net/http's Serve
// returns ErrServerClosed), the error of a port that failed to start or
// stopped by itself (after shutting the node down), or, when ctx ends,
// the result of a graceful Shutdown bounded by Config.ShutdownTimeout
// (nil when every request in flight was answered).
func (n *Node) Serve(ctx context.Context) error {
	if err := n.Start(ctx); err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return n.shutdownWithin()
		}
		return err
	}
	select {
	case <-ctx.Done():
		return n.shutdownWithin()
	case <-n.stopped:
		return ErrNodeClosed
	case err := <-n.serveErr:
		n.serveErr <- err // Shutdown collects every port's return
		if errors.Is(err, server.ErrServerClosed) {
			// A Shutdown under way stopped this port.
			<-n.stopped
			return ErrNodeClosed
		}
		n.log.Error().Err(err).Msg("a port stopped serving: shutting down")
		return errors.Join(err, n.shutdownWithin())
	}
}

// shutdownWithin shuts the node down within Config.ShutdownTimeout.
func (n *Node) shutdownWithin() error {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownTimeout)
	defer cancel()
	err := n.Shutdown(ctx)
	if errors.Is(err, ErrNodeClosed) {
		return nil // someone else's Shutdown stopped it: done
	}
	return err
}

// Ready returns a channel closed once both ports listen (Addrs is then
// set), or once starting failed.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// Addrs returns the addresses the proxy and state-server ports are bound
// to; each is nil before its port listens.
func (n *Node) Addrs() (proxy, state *net.TCPAddr) { return n.proxy.Addr(), n.state.Addr() }

// Shutdown stops the node gracefully: both ports stop accepting
// connections and dispatching requests, every request already dispatched
// is answered (forwarded ones within their deadline) and its answer
// written, each connection is closed once it has nothing left; then the
// look-up pool is released, the node's Forwarder closed and its metrics
// unregistered. If ctx ends first, the remaining connections are closed
// at once (what was in flight is not answered), the pool is left to
// finish on its own, and Shutdown returns ctx.Err(). It returns when the
// ports' goroutines have returned. Shutdown may be called at any time,
// from any goroutine, also on a node that never started (it releases the
// pool); after it, Start, Serve and Shutdown return ErrNodeClosed (a
// second Shutdown waits for the first to finish).
func (n *Node) Shutdown(ctx context.Context) error {
	n.mu.Lock()
	if n.shutdown {
		n.mu.Unlock()
		<-n.stopped
		return ErrNodeClosed
	}
	n.shutdown = true
	started := n.started
	n.mu.Unlock()

	n.stopOnce.Do(func() {
		defer close(n.stopped)
		var errs []error
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, s := range []*server.Server{n.proxy, n.state} {
			wg.Go(func() {
				if err := s.Shutdown(ctx); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("node: shutdown %s: %w", portName(n, s), err))
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if started {
			// Both Serve calls have returned by now (server.Shutdown and
			// Close return after Serve); their results are in serveErr.
			for range 2 {
				if err := <-n.serveErr; err != nil && !errors.Is(err, server.ErrServerClosed) {
					n.log.Debug().Err(err).Msg("a port had stopped by itself")
				}
			}
		}
		if err := n.h.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("node: release the pool: %w", err))
		}
		if err := n.closeForwarder(); err != nil {
			errs = append(errs, err)
		}
		if n.mx != nil {
			n.cfg.Registerer.Unregister(n.mx)
		}
		n.stopErr = errors.Join(errs...)
		if n.stopErr == nil {
			n.log.Info().Msg("stopped")
		}
	})
	return n.stopErr
}

// portName names s for errors.
func portName(n *Node, s *server.Server) string {
	if s == n.proxy {
		return handler.ProxyPort.String()
	}
	return handler.StatePort.String()
}

// closeForwarder closes the Forwarder the node created (none: nil).
func (n *Node) closeForwarder() error {
	if n.fwd == nil {
		return nil
	}
	if err := n.fwd.Close(); err != nil {
		return fmt.Errorf("node: close the forwarder: %w", err)
	}
	return nil
}

// Handler returns the node's handler: its endpoints' Stats and the pool's
// levels, for callers that watch them (the node's metrics already do).
func (n *Node) Handler() *handler.Handler { return n.h }

// Servers returns the proxy and state-server ports' servers, for their
// Stats.
func (n *Node) Servers() (proxy, state *server.Server) { return n.proxy, n.state }
