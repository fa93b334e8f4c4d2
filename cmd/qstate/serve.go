package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/handler"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/server"
)

// serveCmd is the 'serve' subcommand: one node with a proxy port and a
// state-server port, serving the embedded demo task or the synthetic
// benchmark dataset.
type serveCmd struct {
	ProxyAddr       string           `default:"127.0.0.1:9069" env:"QSTATE_PROXY_ADDR" placeholder:"HOST:PORTS" help:"Proxy port (KvStateRequest, what Flink's QueryableStateClient sends). Ports may be a range or list: 9069-9079,9090; the first free one is used."`
	ServerAddr      string           `default:"127.0.0.1:9067" env:"QSTATE_SERVER_ADDR" placeholder:"HOST:PORTS" help:"State-server port (KvStateInternalRequest, what a Flink proxy sends). Ranges as for --proxy-addr."`
	Dataset         string           `default:"demo" enum:"demo,synthetic" help:"What to serve: ${enum}. demo: live states of an embedded task; synthetic: the benchmark ValueState<byte[]>."`
	Keys            int              `default:"1000" help:"Synthetic dataset: number of Integer keys (0..N-1)."`
	ValueSize       int              `default:"8" help:"Synthetic dataset: value size in bytes."`
	EventLoops      int              `default:"0" help:"gnet event loops per port (0: one per CPU)."`
	Dispatch        handler.Dispatch `default:"pool" help:"Where look-ups run: pool (an ants worker pool) or inline (on the event loop)."`
	PoolSize        int              `default:"0" help:"Look-up pool workers; a full pool answers 'overloaded' at once (0: 4096)."`
	MaxFrame        int              `default:"0" help:"Largest request frame in bytes; longer ones close the connection (0: 1 MiB)."`
	DemoInterval    time.Duration    `default:"100ms" help:"Demo dataset: time between two events of the demo task."`
	ShutdownTimeout time.Duration    `default:"10s" help:"On SIGINT/SIGTERM, how long to let in-flight requests finish."`
	LogLevel        string           `default:"info" enum:"debug,info,warn,error" help:"Log level: ${enum}."`
}

// Run runs the subcommand until SIGINT or SIGTERM.
func (c *serveCmd) Run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := os.Stderr.Stat()
	tty := err == nil && st.Mode()&os.ModeCharDevice != 0
	out := zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.RFC3339, NoColor: !tty}
	log := zerolog.New(out).With().Timestamp().Logger()
	return c.run(ctx, os.Stdout, log, nil)
}

// run serves until ctx ends, then shuts down within ShutdownTimeout. It
// prints what it serves to w once both ports listen and then calls ready
// (if set) with their addresses.
func (c *serveCmd) run(ctx context.Context, w io.Writer, log zerolog.Logger, ready func(proxy, state net.Addr)) error {
	lvl, err := zerolog.ParseLevel(c.LogLevel)
	if err != nil {
		return err
	}
	log = log.Level(lvl)

	reg := registry.New()
	var demo *dataset.Demo
	switch c.Dataset {
	case "demo":
		if demo, err = dataset.NewDemo(reg); err != nil {
			return err
		}
	case "synthetic":
		if err := dataset.RegisterSynthetic(reg, c.Keys, c.ValueSize); err != nil {
			return err
		}
	default:
		return fmt.Errorf("serve: unknown dataset %q (want demo or synthetic)", c.Dataset)
	}

	h, err := handler.New(handler.Config{Registry: reg, Dispatch: c.Dispatch, PoolSize: c.PoolSize, Logger: log})
	if err != nil {
		return err
	}
	newServer := func(name, addr string, ep *handler.Endpoint) (*server.Server, error) {
		return server.New(server.Config{
			Addr: addr, Name: name, EventLoops: c.EventLoops, MaxFrameLen: c.MaxFrame, Logger: log,
		}, ep)
	}
	proxy, err := newServer("proxy", c.ProxyAddr, h.Proxy())
	if err != nil {
		return errors.Join(err, h.Close(context.Background()))
	}
	state, err := newServer("state", c.ServerAddr, h.StateServer())
	if err != nil {
		return errors.Join(err, h.Close(context.Background()))
	}

	// Serve both ports; the first to stop (an error, or our shutdown) ends the wait.
	errc := make(chan error, 2)
	for _, s := range []*server.Server{proxy, state} {
		go func() { errc <- s.Serve() }()
	}
	var serveErr error
	pending := 2
	for _, s := range []*server.Server{proxy, state} {
		select {
		case <-s.Ready():
		case serveErr = <-errc:
			pending--
		}
		if serveErr != nil {
			break
		}
	}

	demoDone := make(chan struct{})
	demoCtx, stopDemo := context.WithCancel(ctx)
	if serveErr == nil && proxy.Addr() != nil && state.Addr() != nil {
		c.printBanner(w, reg, proxy.Addr(), state.Addr())
		log.Info().Str("proxy", proxy.Addr().String()).Str("state", state.Addr().String()).
			Str("dataset", c.Dataset).Stringer("dispatch", c.Dispatch).Msg("serving")
		if ready != nil {
			ready(proxy.Addr(), state.Addr())
		}
		if demo != nil {
			go func() {
				defer close(demoDone)
				_ = demo.Run(demoCtx, c.DemoInterval)
			}()
		} else {
			close(demoDone)
		}
		select {
		case <-ctx.Done():
			log.Info().Msg("signal received: shutting down")
		case serveErr = <-errc:
			pending--
			log.Error().Err(serveErr).Msg("a port stopped serving: shutting down")
		}
	} else {
		close(demoDone)
	}
	stopDemo()
	<-demoDone

	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	var errs []error
	for _, s := range []*server.Server{proxy, state} {
		if err := s.Shutdown(sctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown: %w", err))
		}
	}
	for ; pending > 0; pending-- {
		if err := <-errc; err != nil && !errors.Is(err, server.ErrServerClosed) && serveErr == nil {
			serveErr = err
		}
	}
	if err := h.Close(sctx); err != nil {
		errs = append(errs, fmt.Errorf("handler: %w", err))
	}
	if serveErr != nil && !errors.Is(serveErr, server.ErrServerClosed) {
		errs = append([]error{serveErr}, errs...)
	}
	if len(errs) == 0 {
		log.Info().Msg("stopped")
	}
	return errors.Join(errs...)
}

// printBanner tells the user what is served and how to query it.
func (c *serveCmd) printBanner(w io.Writer, reg *registry.Registry, proxy, state net.Addr) {
	var b strings.Builder
	fmt.Fprintf(&b, "qstate serving\n")
	fmt.Fprintf(&b, "  proxy port (KvStateRequest):                %s\n", proxy)
	fmt.Fprintf(&b, "  state-server port (KvStateInternalRequest): %s\n", state)
	switch c.Dataset {
	case "demo":
		fmt.Fprintf(&b, "dataset demo (updated every %v)\n  JobID %s\n", c.DemoInterval, dataset.DemoJobID)
		for _, s := range dataset.DemoStates() {
			id, _ := dataset.DemoKvStateID(reg, s.Name)
			fmt.Fprintf(&b, "  state %-16s %-5s key %s, value %s; example keys: %s; KvStateID %s\n",
				s.Name, s.Kind, s.KeyType, s.ValueType, strings.Join(s.ExampleKeys, ", "), id)
		}
		fmt.Fprintf(&b, "try:\n")
		for _, s := range dataset.DemoStates() {
			fmt.Fprintf(&b, "  qstate query --addr %s --job %s --state %s --key %s %s\n",
				proxy, dataset.DemoJobID, s.Name, s.ExampleKeys[0], queryTypeFlags(s))
		}
	case "synthetic":
		id, _ := dataset.SyntheticKvStateID(reg)
		fmt.Fprintf(&b, "dataset synthetic: ValueState<byte[]> of Integer keys 0..%d, %d-byte values (byte j of key i = byte(i*31+j))\n",
			c.Keys-1, c.ValueSize)
		fmt.Fprintf(&b, "  JobID %s, state %q, KvStateID %s\n", dataset.SyntheticJobID, dataset.SyntheticState, id)
		fmt.Fprintf(&b, "try:\n  qstate query --addr %s --job %s --state %s --key 0 --key-type int --value-type bytes\n",
			proxy, dataset.SyntheticJobID, dataset.SyntheticState)
	}
	_, _ = io.WriteString(w, b.String())
}

// queryTypeFlags returns the `qstate query` type flags for a demo state.
func queryTypeFlags(s dataset.DemoStateInfo) string {
	switch s.Kind {
	case "map":
		mk, v, _ := strings.Cut(s.ValueType, "->")
		return "--key-type " + s.KeyType + " --kind map --map-key-type " + mk + " --value-type " + v
	default:
		return "--key-type " + s.KeyType + " --kind " + s.Kind + " --value-type " + s.ValueType
	}
}
