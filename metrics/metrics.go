package metrics

import (
	"fmt"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/qstate/qstate/handler"
	"github.com/qstate/qstate/server"
)

// ServerSource is what Metrics reads of a server: *server.Server satisfies it.
type ServerSource interface {
	Stats() server.Stats
}

// EndpointSource is what Metrics reads of a handler endpoint:
// *handler.Endpoint satisfies it.
type EndpointSource interface {
	Port() handler.Port
	Stats() handler.Stats
}

// PoolSource is what Metrics reads of a handler's worker pool:
// *handler.Handler satisfies it. A source that also has a PoolWaiting()
// int method (*handler.Handler does) reports qstate_pool_waiting; for
// others it is 0.
type PoolSource interface {
	PoolStats() (running, capacity int)
}

// numPorts is the number of handler.Port values (ProxyPort, StatePort).
const numPorts = 2

// Metrics exposes one qstate node's counters to Prometheus: it owns a
// registry (no globals: two Metrics in one process never collide), reads
// the watched servers' and endpoints' Stats when scraped, and records
// request latencies through its ObserveBatch (handler.Observer).
type Metrics struct {
	reg  *prometheus.Registry
	hist [numPorts]*histogram

	mu        sync.Mutex // guards what is watched
	servers   []watchedServer
	endpoints [numPorts]EndpointSource
	pool      PoolSource
}

type watchedServer struct {
	port string
	src  ServerSource
}

// New returns a Metrics for cfg (defaults applied to a copy), with its own
// registry holding the qstate collector and, unless cfg.NoRuntime, the Go
// runtime, process and build-info collectors. It returns an error wrapping
// ErrConfig when cfg is invalid.
func New(cfg Config) (*Metrics, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	m := &Metrics{reg: prometheus.NewRegistry()}
	for p := range m.hist {
		m.hist[p] = newHistogram(descRequestDuration, cfg.Buckets)
	}
	m.reg.MustRegister(collector{m})
	if !cfg.NoRuntime {
		if err := RegisterRuntime(m.reg); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// RegisterRuntime registers the Go runtime, process and build-info
// collectors (go_*, process_*, go_build_info) in r: what New registers in
// its own registry unless Config.NoRuntime.
func RegisterRuntime(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	} {
		if err := r.Register(c); err != nil {
			return fmt.Errorf("metrics: register runtime collectors: %w", err)
		}
	}
	return nil
}

// Registry returns the Metrics' own registry, for callers that add
// collectors of their own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Collector returns the qstate collector (the watched sources' counters
// and gauges and the latency histograms, without the runtime collectors),
// for a caller that registers it in a registry of its own (package node
// does, in Config.Registerer). It is also registered in Registry.
func (m *Metrics) Collector() prometheus.Collector { return collector{m} }

// WatchServer reads s.Stats at every scrape, under the label port="port"
// (the handler's port names: "proxy", "state"). It panics when s is nil
// or port is already watched (set-up bugs).
func (m *Metrics) WatchServer(port string, s ServerSource) {
	if s == nil {
		panic("metrics: nil ServerSource")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, w := range m.servers {
		if w.port == port {
			panic(fmt.Sprintf("metrics: server for port %q watched twice", port))
		}
	}
	m.servers = append(m.servers, watchedServer{port, s})
}

// WatchEndpoint reads ep.Stats at every scrape, under the label of
// ep.Port. It panics when ep is nil, its port is not one of handler's, or
// an endpoint of that port is already watched (set-up bugs).
func (m *Metrics) WatchEndpoint(ep EndpointSource) {
	if ep == nil {
		panic("metrics: nil EndpointSource")
	}
	p := ep.Port()
	if p < 0 || int(p) >= numPorts {
		panic(fmt.Sprintf("metrics: endpoint of unknown port %v", p))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.endpoints[p] != nil {
		panic(fmt.Sprintf("metrics: endpoint for port %q watched twice", p))
	}
	m.endpoints[p] = ep
}

// WatchPool reads the pool's levels at every scrape. It panics when p is
// nil or a pool is already watched (set-up bugs).
func (m *Metrics) WatchPool(p PoolSource) {
	if p == nil {
		panic("metrics: nil PoolSource")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pool != nil {
		panic("metrics: pool watched twice")
	}
	m.pool = p
}

// ObserveBatch records requests observations of latency in the port's
// request latency histogram (handler.Observer). It is the only part of
// Metrics on the request path: a binary search and two atomic additions,
// no allocation, whatever the number of requests (M1). Ports other than
// handler's are ignored.
func (m *Metrics) ObserveBatch(port handler.Port, requests, failed int, latency time.Duration) {
	if port < 0 || int(port) >= numPorts {
		return
	}
	m.hist[port].observe(requests, latency)
}

var _ handler.Observer = (*Metrics)(nil)

// Handler returns the admin HTTP handler: /metrics (the registry in the
// Prometheus text or protobuf format, whichever the scraper asks for) and
// net/http/pprof's /debug/pprof/ pages (index, cmdline, profile, symbol,
// trace and the named profiles). Anything else is 404. pprof can profile
// and stop-the-world trace the process: serve this on a loopback or
// otherwise protected address.
func (m *Metrics) Handler() http.Handler { return NewHandler(m.reg) }

// NewHandler is Handler for any gatherer: /metrics shows what g gathers
// (a registry a node registered its collector in, for example).
func NewHandler(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
	mux.HandleFunc("GET /debug/pprof/", pprof.Index) // also serves /debug/pprof/{heap,goroutine,...}
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol) // go tool pprof looks symbols up with POST
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = fmt.Fprint(w, "qstate admin\n  /metrics       Prometheus metrics\n  /debug/pprof/  Go profiles\n")
	})
	return mux
}
