package handler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/ants/v2"
	"github.com/rs/zerolog"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/internal/enumname"
	"github.com/qstate/qstate/internal/freelist"
	"github.com/qstate/qstate/registry"
)

// Port is the kind of requests an Endpoint answers.
type Port int

// The two ports of a node, as in Flink.
const (
	// ProxyPort takes KvStateRequests (job, state name, key hash, key and
	// namespace): what Flink's QueryableStateClient sends (Flink's 9069).
	ProxyPort Port = iota
	// StatePort takes KvStateInternalRequests (KvStateID, key and
	// namespace): what a Flink proxy sends to a state server (Flink's 9067).
	StatePort
)

// String returns "proxy" or "state".
func (p Port) String() string { return ports.String(p) }

var ports = enumname.Table[Port]{Type: "Port", Names: []string{ProxyPort: "proxy", StatePort: "state"}}

// serverName is the name Flink puts in the failures this port raises itself.
func (p Port) serverName() string {
	if p == ProxyPort {
		return codec.ProxyName
	}
	return codec.ServerName
}

// Forwarder answers a proxy request whose key group is owned by another
// node: it sends a KvStateInternalRequest for keyAndNamespace under
// owner.ID to the state server at owner.Addr and returns the answer's
// content. job, name and keyHash are the proxy request's, so that it can
// find the owner again when owner proves stale (package cluster's
// Forwarder retries that way).
//
// ctx ends at the request's deadline (Config.RequestTimeout after its
// batch reached the handler): Forward must return by then, so a dead or
// stalled owner costs a request at most its deadline. ctx, name and
// keyAndNamespace are valid during the call only: the handler recycles
// ctx, so neither it nor a context derived from it may outlive the call.
//
// It runs on a pool worker, or on a helper goroutine when a batch holds
// several forwarded requests (they are forwarded concurrently); it may
// block until ctx ends. content becomes the handler's, which copies it
// into the answer and gives it to bufpool.Put. A *codec.JavaException
// error (found with errors.As) is relayed as Flink's proxy relays the
// state server's failure (a BadRequestException as is, anything else
// wrapped in "Failed request <id>."); any other error is wrapped.
type Forwarder interface {
	Forward(ctx context.Context, owner registry.Owner, job registry.JobID, name []byte, keyHash int32, keyAndNamespace []byte) (content []byte, err error)
}

// Observer is told about every batch an Endpoint answers, from the
// goroutine that answered it: requests answered, how many failed, and the
// time from ServeBatch to the answers being encoded. It must be quick and
// must not block (a Prometheus histogram observation is).
type Observer interface {
	ObserveBatch(port Port, requests, failed int, latency time.Duration)
}

// Handler answers queryable-state requests from a registry. Its two
// Endpoints (Proxy, StateServer) satisfy server.Handler and share the pool.
type Handler struct {
	cfg Config
	reg *registry.Registry
	log zerolog.Logger
	// pool is made by New with Pool dispatch; with Inline dispatch, by the
	// first batch that needs it (a look-up that may block), under poolMu.
	pool   atomic.Pointer[ants.PoolWithFuncGeneric[*task]]
	poolMu sync.Mutex
	tasks  taskPool

	proxy, state Endpoint
	closed       atomic.Bool
	fwdHelpers   atomic.Int64 // goroutines forwarding for batches besides their workers (at most PoolSize)
}

// New returns a Handler for cfg (defaults applied to a copy). It returns
// an error wrapping ErrConfig when cfg is invalid.
func New(cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	h := &Handler{cfg: cfg, reg: cfg.Registry, log: cfg.Logger.With().Str("component", "handler").Logger()}
	h.proxy.init(h, ProxyPort)
	h.state.init(h, StatePort)
	if cfg.Dispatch != Inline {
		if _, err := h.workers(); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// workers returns the pool, making it on first use (with Inline dispatch,
// the first batch that looks up a state whose look-ups may block). After
// Close it returns ants.ErrPoolClosed.
func (h *Handler) workers() (*ants.PoolWithFuncGeneric[*task], error) {
	if p := h.pool.Load(); p != nil {
		return p, nil
	}
	h.poolMu.Lock()
	defer h.poolMu.Unlock()
	if h.closed.Load() {
		return nil, ants.ErrPoolClosed
	}
	if p := h.pool.Load(); p != nil {
		return p, nil
	}
	// Importing gnet releases ants' default pool: this one is ours.
	pool, err := ants.NewPoolWithFuncGeneric(h.cfg.PoolSize, runTask,
		ants.WithNonblocking(true), // full: refuse at once, never queue
		ants.WithExpiryDuration(h.cfg.PoolExpiry),
		ants.WithLogger(antsLogger{h.log}),
		ants.WithPanicHandler(func(p any) {
			h.log.Error().Interface("panic", p).Msg("pool worker panicked")
		}))
	if err != nil {
		return nil, fmt.Errorf("handler: pool: %w", err)
	}
	h.pool.Store(pool)
	return pool, nil
}

// Proxy returns the endpoint for the proxy port (KvStateRequest).
func (h *Handler) Proxy() *Endpoint { return &h.proxy }

// StateServer returns the endpoint for the state-server port (KvStateInternalRequest).
func (h *Handler) StateServer() *Endpoint { return &h.state }

// PoolStats reports the pool's running workers and its capacity (both 0
// with Inline dispatch until a look-up that may block needs the pool). The
// pool never queues: there is no waiting count.
func (h *Handler) PoolStats() (running, capacity int) {
	p := h.pool.Load()
	if p == nil {
		return 0, 0
	}
	return p.Running(), p.Cap()
}

// PoolWaiting reports the callers blocked waiting for a pool worker. It is
// always 0: the pool is non-blocking (a full pool refuses a batch, H3); it
// is exposed so that monitoring shows that, not assumes it.
func (h *Handler) PoolWaiting() int {
	p := h.pool.Load()
	if p == nil {
		return 0
	}
	return p.Waiting()
}

// Close stops the pool: batches that arrive afterwards are answered with a
// failure saying the server is shutting down. It waits until the workers
// have finished their batches and exited, or ctx ends (returning its
// error). Close the servers first (server.Shutdown), so that nothing is
// refused that could have been answered.
func (h *Handler) Close(ctx context.Context) error {
	if h.closed.Swap(true) {
		return nil
	}
	h.poolMu.Lock() // no pool is made after this
	p := h.pool.Load()
	h.poolMu.Unlock()
	if p == nil {
		return nil
	}
	err := p.ReleaseContext(ctx)
	if errors.Is(err, ants.ErrPoolClosed) {
		return nil
	}
	return err
}

// runTask is the pool's function: it answers one batch.
func runTask(t *task) { t.run() }

// antsLogger routes ants' logs (panics it recovers, mostly) to zerolog.
type antsLogger struct{ log zerolog.Logger }

func (l antsLogger) Printf(format string, args ...any) {
	l.log.Error().Str("from", "ants").Msgf(format, args...)
}

// taskPool is the free list of tasks (see package freelist: steady state
// allocates nothing).
type taskPool struct{ free freelist.List[task] }

func (p *taskPool) get() *task {
	if t := p.free.Get(); t != nil {
		return t
	}
	return new(task)
}

func (p *taskPool) put(t *task) {
	t.ep, t.reqs, t.done, t.doneN, t.part = nil, nil, nil, nil, nil
	p.free.Put(t)
}
