package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/qstate/qstate/client"
	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/internal/configcheck"
	"github.com/qstate/qstate/registry"
)

// Defaults for the zero fields of ForwarderConfig, with the reason for each.
const (
	// DefaultMaxAttempts is how many times a request is sent before the
	// Forwarder gives up (4): enough to ride out a peer's restart or a
	// range that moved (one stale answer, one re-resolved try), few enough
	// that a dead peer costs its callers milliseconds, not Flink's endless
	// loop.
	DefaultMaxAttempts = 4
	// DefaultBackoff is the pause before the first retry (10 ms); each
	// further retry doubles it, up to MaxBackoff, with jitter.
	DefaultBackoff = 10 * time.Millisecond
	// DefaultMaxBackoff caps the pause between two attempts (1 s).
	DefaultMaxBackoff = time.Second
	// DefaultTimeout bounds a forwarded request whose context has no
	// deadline, every attempt and pause included (5 s). Flink's proxy has no bound and Java clients have no
	// timeout: a peer that accepts and never answers must not hold a pool
	// worker, and the client waiting on it, forever.
	DefaultTimeout = 5 * time.Second
	// maxAttemptsLimit bounds MaxAttempts: more would only hide a dead peer.
	maxAttemptsLimit = 100
)

// ForwarderConfig configures a Forwarder. The zero value is usable: each
// field says what zero means.
type ForwarderConfig struct {
	// Client sends the KvStateInternalRequests (one pipelined connection
	// per peer). nil: the Forwarder creates one with client.Config{} and
	// closes it in Close; a Client given here is the caller's to close.
	Client *client.Client

	// Directory is asked for the owner again before each retry. nil: a
	// retry goes to the owner the first attempt used.
	Directory Directory

	// MaxAttempts is how many times a request is sent at most, the first
	// included. 0 means DefaultMaxAttempts; at most 100.
	MaxAttempts int

	// Backoff is the pause before the first retry; it doubles for each
	// further one, up to MaxBackoff. Each pause is drawn in [d/2, d] (jitter,
	// so that the callers of a dead peer do not retry in lockstep). 0 means
	// DefaultBackoff.
	Backoff time.Duration

	// MaxBackoff caps a pause. 0 means DefaultMaxBackoff; not below Backoff.
	MaxBackoff time.Duration

	// Timeout bounds a Forward call whose ctx has no deadline, every
	// attempt and pause included (a ctx with a deadline is bounded by it
	// alone). 0 means DefaultTimeout.
	Timeout time.Duration

	// Logger receives a line when a request is given up on, at most one
	// every 10 s (the count is in Stats), and, when the Forwarder creates
	// the Client, the client's connection events, at most ten every 10 s.
	// The zero value logs nothing.
	Logger zerolog.Logger
}

// withDefaults returns a copy of c with every zero field set to its default.
func (c ForwarderConfig) withDefaults() ForwarderConfig {
	c.MaxAttempts = cmp.Or(c.MaxAttempts, DefaultMaxAttempts)
	c.Backoff = cmp.Or(c.Backoff, DefaultBackoff)
	c.MaxBackoff = cmp.Or(c.MaxBackoff, max(DefaultMaxBackoff, c.Backoff))
	c.Timeout = cmp.Or(c.Timeout, DefaultTimeout)
	return c
}

// Validate reports every problem of c (after defaults) in one error; each
// wraps ErrConfig.
func (c ForwarderConfig) Validate() error {
	c = c.withDefaults()
	p := configcheck.New(ErrConfig)
	if c.MaxAttempts < 1 || c.MaxAttempts > maxAttemptsLimit {
		p.Addf("MaxAttempts %d is not in [1, %d]", c.MaxAttempts, maxAttemptsLimit)
	}
	configcheck.NonNegative(p, "Backoff", c.Backoff)
	if c.MaxBackoff < c.Backoff {
		p.Addf("MaxBackoff %v is below Backoff %v", c.MaxBackoff, c.Backoff)
	}
	configcheck.NonNegative(p, "Timeout", c.Timeout)
	return p.Err()
}

// Forwarder answers proxy requests for key groups other nodes own, as
// Flink's KvStateClientProxyHandler does: it sends a
// KvStateInternalRequest to the owner's state server and returns its
// answer; on a stale location (UnknownKvStateIdException,
// UnknownKvStateKeyGroupLocationException, or a connection that failed or
// broke) it asks the Directory for the owner again and retries, with
// exponential backoff, up to MaxAttempts before ctx's deadline, then fails with a
// *ForwardError. Any other failure is returned as the client reported it
// (a *client.RequestError carrying the peer's Java exception), for the
// proxy to relay unchanged. It satisfies handler.Forwarder. Safe for
// concurrent use.
type Forwarder struct {
	cfg    ForwarderConfig
	c      *client.Client
	ownsC  bool
	log    zerolog.Logger
	closed chan struct{}
	once   sync.Once

	requests, attempts, retries, gaveUp atomic.Int64
}

// NewForwarder returns a Forwarder for cfg (defaults applied to a copy) or
// the problems Validate finds in it.
func NewForwarder(cfg ForwarderConfig) (*Forwarder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	f := &Forwarder{cfg: cfg, c: cfg.Client, closed: make(chan struct{})}
	f.log = cfg.Logger.With().Str("component", "forwarder").Logger().
		Sample(&zerolog.BurstSampler{Burst: 1, Period: 10 * time.Second})
	if f.c == nil {
		// The client logs each failed connection: with a dead peer, one per
		// attempt. Ten in ten seconds say enough.
		clog := cfg.Logger.Sample(&zerolog.BurstSampler{Burst: 10, Period: 10 * time.Second})
		c, err := client.New(client.Config{Logger: clog})
		if err != nil {
			return nil, err
		}
		f.c, f.ownsC = c, true
	}
	return f, nil
}

// Close ends the Forwarder: calls waiting in a backoff return ErrClosed at
// once, later calls too, and a Client the Forwarder created is closed (its
// pending requests fail with client.ErrClosed). Close is idempotent.
func (f *Forwarder) Close() error {
	f.once.Do(func() {
		close(f.closed)
		if f.ownsC {
			_ = f.c.Close()
		}
	})
	return nil
}

// ForwarderStats counts what a Forwarder did since it was created.
type ForwarderStats struct {
	Requests int64 // Forward calls
	Attempts int64 // KvStateInternalRequests sent (first tries and retries)
	Retries  int64 // attempts after the first of their call (after a stale location or a failed connection)
	GaveUp   int64 // calls that ended with a ForwardError
}

// Stats returns a snapshot of the counters.
func (f *Forwarder) Stats() ForwarderStats {
	return ForwarderStats{Requests: f.requests.Load(), Attempts: f.attempts.Load(),
		Retries: f.retries.Load(), GaveUp: f.gaveUp.Load()}
}

// Forward sends the KvStateInternalRequest for keyAndNamespace under
// owner.ID to owner.Addr and returns the content of the answer, retrying
// on a stale location as the type's doc says, until ctx ends: a dead or
// stalled owner costs at most ctx's deadline (the handler gives the
// request's). A ctx without a deadline is bounded by Timeout. job, name
// and keyHash are those of the proxy request: the Directory needs them to
// find the owner again. name and keyAndNamespace are read during the call
// only, and nothing of ctx is kept after it. The content is the caller's;
// it comes from bufpool, and the caller may give it to bufpool.Put once
// done. It satisfies handler.Forwarder; with a ctx that has a deadline it
// allocates nothing in steady state (TestForwardDoesNotAllocate).
func (f *Forwarder) Forward(ctx context.Context, owner registry.Owner, job registry.JobID, name []byte, keyHash int32, keyAndNamespace []byte) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.cfg.Timeout)
		defer cancel()
	}
	f.requests.Add(1)
	start := time.Now()
	var last error
	attempt := 0
	for {
		select {
		case <-f.closed:
			return nil, ErrClosed
		default:
		}
		if attempt > 0 || owner.Addr == "" {
			if o, err := f.resolve(ctx, job, name, keyHash); err == nil {
				owner = o
			} else if errors.Is(err, ErrUnknownState) || errors.Is(err, ErrNoOwner) || owner.Addr == "" {
				return nil, f.giveUp(owner, attempt, start, err)
			} // else a transient directory failure: try the owner we had
		}
		attempt++
		f.attempts.Add(1)
		if attempt > 1 {
			f.retries.Add(1)
		}
		content, err := f.c.GetKvStateInternal(ctx, owner.Addr, owner.ID, keyAndNamespace)
		if err == nil {
			return content, nil
		}
		if ctx.Err() != nil {
			return nil, f.giveUp(owner, attempt, start, err)
		}
		if !Retryable(err) {
			return nil, err // relayed as the peer sent it
		}
		last = err
		if attempt >= f.cfg.MaxAttempts {
			return nil, f.giveUp(owner, attempt, start, last)
		}
		pause := f.backoff(attempt)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < pause {
			return nil, f.giveUp(owner, attempt, start, last) // no time left for another try
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, f.giveUp(owner, attempt, start, last)
		case <-f.closed:
			t.Stop()
			return nil, ErrClosed
		}
	}
}

// resolve asks the directory for the owner; without one, there is nothing
// new to learn.
func (f *Forwarder) resolve(ctx context.Context, job registry.JobID, name []byte, keyHash int32) (registry.Owner, error) {
	if f.cfg.Directory == nil {
		return registry.Owner{}, errors.New("cluster: no directory to re-resolve the owner")
	}
	o, err := f.cfg.Directory.Owner(ctx, job, string(name), keyHash)
	if err == nil && o.Addr == "" {
		err = fmt.Errorf("cluster: directory returned an owner without a state-server address for state %q of job %s", name, job)
	}
	return o, err
}

// backoff returns the pause after attempt n (1-based): Backoff doubled
// n-1 times, capped at MaxBackoff, drawn in [d/2, d].
func (f *Forwarder) backoff(n int) time.Duration {
	d := f.cfg.Backoff
	for i := 1; i < n && d < f.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, f.cfg.MaxBackoff)
	if half := d / 2; half > 0 {
		d = half + rand.N(half+1)
	}
	return d
}

// giveUp counts and logs a request given up on and returns its error.
func (f *Forwarder) giveUp(owner registry.Owner, attempts int, start time.Time, last error) error {
	f.gaveUp.Add(1)
	e := &ForwardError{Owner: owner, Attempts: attempts, Elapsed: time.Since(start), Err: last}
	f.log.Warn().Err(e).Msg("gave up forwarding (further ones in the next 10 s not logged)")
	return e
}

// Retryable reports whether a forwarded request that failed with err may
// succeed at another owner or a little later: the peer does not know the
// KvStateID (UnknownKvStateIdException) or the key group
// (UnknownKvStateKeyGroupLocationException), or the connection could not
// be made or broke (client.ErrConnect, client.ErrBroken; a look-up is
// idempotent). As in Flink, only the class of the exception the peer sent
// counts, not its causes.
func Retryable(err error) bool {
	if errors.Is(err, client.ErrConnect) || errors.Is(err, client.ErrBroken) {
		return true
	}
	var re *client.RequestError
	if errors.As(err, &re) && re.Exception != nil {
		return re.Exception.Is(codec.ErrUnknownKvStateID) || re.Exception.Is(codec.ErrUnknownKvStateKeyGroupLocation)
	}
	return false
}

// ForwardError reports a forwarded request given up on: every attempt met a
// stale location or a connection failure, or the deadline came first.
// errors.Is(err, ErrGaveUp) holds, and errors.Is/As see the last attempt's
// error (Err). errors.As to a *codec.JavaException yields a
// java.lang.RuntimeException that says so, caused by the peer's exception
// when the last attempt got one: what a proxy sends its client (wrapped in
// "Failed request <id>.").
type ForwardError struct {
	Owner    registry.Owner // the owner of the last attempt
	Attempts int            // requests sent
	Elapsed  time.Duration  // from the call to giving up
	Err      error          // the last attempt's error (or the directory's)
}

// Error says what was given up on, after how many attempts and why.
func (e *ForwardError) Error() string {
	return "cluster: gave up forwarding to " + e.target() + " after " + attempts(e.Attempts) + " in " +
		e.Elapsed.Round(time.Microsecond).String() + ": " + errText(e.Err)
}

func (e *ForwardError) target() string {
	if e.Owner.Addr == "" {
		return "an unknown owner"
	}
	return "the state server at " + e.Owner.Addr + " (KvStateID " + e.Owner.ID.String() + ")"
}

func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return strconv.Itoa(n) + " attempts"
}

func errText(err error) string {
	switch {
	case err == nil:
		return "no error"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline exceeded (" + err.Error() + ")"
	}
	return err.Error()
}

// Unwrap returns ErrGaveUp and the last attempt's error.
func (e *ForwardError) Unwrap() []error { return []error{ErrGaveUp, e.Err} }

// As sets a **codec.JavaException target to the RuntimeException a proxy
// sends for e (see the type's doc), so that a handler relaying Java
// exceptions relays this one and not the last attempt's.
func (e *ForwardError) As(target any) bool {
	p, ok := target.(**codec.JavaException)
	if !ok {
		return false
	}
	var cause *codec.JavaException
	if je := (*codec.JavaException)(nil); errors.As(e.Err, &je) {
		cause = je.Sendable()
	}
	*p = codec.NewForwardFailure(e.target(), e.Attempts, e.Elapsed, errText(e.Err), cause)
	return true
}
