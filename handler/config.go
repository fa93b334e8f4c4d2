package handler

import (
	"cmp"
	"time"

	"github.com/rs/zerolog"

	"github.com/qstate/qstate/internal/configcheck"
	"github.com/qstate/qstate/internal/enumname"
	"github.com/qstate/qstate/registry"
)

// Dispatch says where look-ups run.
type Dispatch int

// The dispatch modes.
const (
	// Auto (the zero value, and the default) runs a batch's look-ups on
	// the pool as Pool does, except a lone request: a batch of one on a
	// connection with nothing else in flight or waiting to be written
	// (ServeParts' first; with ServeBatch, any batch of one). That one is
	// looked up on the event loop, as Inline does, when its state never
	// blocks, since a hop to the pool would only add a wake-up (and a
	// second thread's wake-up) to a few hundred nanoseconds of look-up. A
	// forward or a state whose look-ups may block still goes to the pool.
	// Measured in BENCHMARKS.md ("One writer per socket and dispatch"):
	// 1x1 -48% server CPU per request, 50x1 -20%, pipelined loads as Pool.
	Auto Dispatch = iota
	// Pool runs each batch's look-ups on the handler's ants pool: the
	// event loop only hands the batch over, so a slow state or a forwarded
	// request never stalls other connections.
	Pool
	// Inline runs look-ups on the event loop that read the batch and
	// answers before ServeBatch returns, for states whose Get never
	// blocks (the heap states of package state); it saves the handoff. A
	// batch that reaches a state whose look-ups may block (state.Blocking)
	// continues on the pool from that request.
	Inline
)

// String returns the mode's flag name ("auto", "pool" or "inline").
func (d Dispatch) String() string { return dispatches.String(d) }

// MarshalText implements encoding.TextMarshaler.
func (d Dispatch) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler ("auto", "pool" or "inline").
func (d *Dispatch) UnmarshalText(b []byte) error { return dispatches.UnmarshalText(b, d) }

var dispatches = enumname.Table[Dispatch]{
	Type: "Dispatch", Names: []string{Auto: "auto", Pool: "pool", Inline: "inline"},
	IgnoreCase: true, What: "dispatch mode", Err: ErrConfig,
}

// Defaults for the zero fields of Config, with the reason for each value.
const (
	// DefaultPoolSize is the number of pool workers (goroutines), that is
	// of batches looked up at once: 4096. Heap look-ups take microseconds,
	// so a full pool means the node is far past saturation; the bound is
	// large enough that ordinary bursts of thousands of connections never
	// see an overload failure, small enough to bound goroutines (and their
	// stacks) under a flood.
	DefaultPoolSize = 4096

	// DefaultPoolExpiry is how long an idle pool worker lives (10 s).
	// ants' own default (1 s) would churn goroutines under bursty load;
	// much longer keeps the goroutines (and stacks) of a burst of thousands
	// of workers for minutes after it. ants purges every expiry period, so
	// an idle worker goes between 10 and 20 s after its last batch.
	DefaultPoolExpiry = 10 * time.Second

	// DefaultRequestTimeout is a request's deadline (5 s), counted from
	// its batch reaching the handler. Only forwarded requests can take that
	// long (local look-ups take microseconds): Flink's proxy has no bound
	// and Java clients have no timeout, so a peer that accepts and never
	// answers must not hold a worker, and the client waiting on it, forever.
	DefaultRequestTimeout = 5 * time.Second
)

// Config configures a Handler. The zero value is unusable only for want of
// a Registry; every other zero field takes the default in its comment.
type Config struct {
	// Registry maps KvStateIDs and (job, state name) to states. Required.
	Registry *registry.Registry

	// Dispatch says where look-ups run; zero is Auto.
	Dispatch Dispatch

	// PoolSize bounds the pool's workers: when all are busy a batch is
	// refused at once, each of its requests answered with a
	// RuntimeException saying the server is overloaded (admission control,
	// never a queue). 0 means DefaultPoolSize.
	PoolSize int

	// PoolExpiry is how long an idle pool worker lives. 0 means DefaultPoolExpiry.
	PoolExpiry time.Duration

	// Forwarder answers proxy requests whose key group another node owns.
	// nil answers them with UnknownKvStateKeyGroupLocationException, as a
	// Flink proxy does for a key group with no known location. A Forwarder
	// may block, so it requires Pool dispatch.
	Forwarder Forwarder

	// RequestTimeout is a request's deadline, counted from its batch
	// reaching the handler (ServeBatch). A forwarded request still
	// unanswered by then fails with the Forwarder's error for it, so a
	// dead or stalled owner costs at most this. 0 means
	// DefaultRequestTimeout.
	RequestTimeout time.Duration

	// Observer, if set, is told about every batch (for metrics).
	Observer Observer

	// Logger receives lifecycle logs and unexpected failures (a panicking
	// state); never one line per request. The zero value discards everything.
	Logger zerolog.Logger
}

// withDefaults returns a copy of c with every zero field set to its default.
func (c Config) withDefaults() Config {
	c.PoolSize = cmp.Or(c.PoolSize, DefaultPoolSize)
	c.PoolExpiry = cmp.Or(c.PoolExpiry, DefaultPoolExpiry)
	c.RequestTimeout = cmp.Or(c.RequestTimeout, DefaultRequestTimeout)
	return c
}

// Validate reports every problem of c (after defaults) in one error; each
// wraps ErrConfig.
func (c Config) Validate() error {
	c = c.withDefaults()
	p := configcheck.New(ErrConfig)
	if c.Registry == nil {
		p.Addf("Registry is nil")
	}
	if c.Dispatch != Pool && c.Dispatch != Inline && c.Dispatch != Auto {
		p.Addf("unknown Dispatch %d", int(c.Dispatch))
	}
	configcheck.NonNegative(p, "PoolSize", c.PoolSize)
	configcheck.NonNegative(p, "PoolExpiry", c.PoolExpiry)
	configcheck.NonNegative(p, "RequestTimeout", c.RequestTimeout)
	if c.Forwarder != nil && c.Dispatch == Inline {
		p.Addf("a Forwarder needs Auto or Pool dispatch, not Inline (Inline is for a node that answers only from its own states)")
	}
	return p.Err()
}
