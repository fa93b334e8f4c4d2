package client

import (
	"context"
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/qstate/qstate/codec"
)

// Client queries queryable-state servers. It keeps one pipelined connection
// per server address. Its methods are safe for concurrent use.
type Client struct {
	cfg    Config
	ctx    context.Context // ends when Close starts: cancels dials
	cancel context.CancelFunc
	wg     sync.WaitGroup // the connections' goroutines

	mu     sync.RWMutex
	closed bool
	conns  map[string]*conn // guarded by mu

	dials  atomic.Uint64
	breaks atomic.Uint64
}

// New returns a Client configured by cfg (which it copies) or the problems
// Validate finds in cfg.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Client{cfg: cfg, ctx: ctx, cancel: cancel, conns: make(map[string]*conn)}, nil
}

// Close fails every call in flight with ErrClosed, closes every connection
// and waits for the connections' goroutines to end. Later calls return
// ErrClosed. Close is idempotent and always returns nil.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	conns := c.conns
	c.conns = nil
	c.mu.Unlock()
	c.cancel()
	for _, cn := range conns {
		cn.fail(ErrClosed)
	}
	c.wg.Wait()
	return nil
}

// Stats is a snapshot of a Client's connections and requests.
type Stats struct {
	Connections int    // connections open or dialling
	InFlight    int    // requests sent or queued and not yet answered, over all connections
	Dials       uint64 // connection attempts since New
	Failures    uint64 // connections failed since New (broken, SERVER_FAILURE, dial error; not Close)
}

// Stats returns a snapshot of the client's connections and request in flights.
func (c *Client) Stats() Stats {
	c.mu.RLock()
	conns := make([]*conn, 0, len(c.conns))
	for _, cn := range c.conns {
		conns = append(conns, cn)
	}
	c.mu.RUnlock()
	s := Stats{Connections: len(conns), Dials: c.dials.Load(), Failures: c.breaks.Load()}
	for _, cn := range conns {
		cn.mu.Lock()
		s.InFlight += len(cn.inFlight)
		cn.mu.Unlock()
	}
	return s
}

// GetKvState asks a proxy (Flink's port 9069) for the state named
// stateName of job, under the key whose Java hashCode is keyHash and whose
// serialized key and namespace are keyAndNamespace (a KvStateRequest). It
// returns the serialized state (see the package doc for who owns it).
//
// A REQUEST_FAILURE comes back as a *RequestError; a connection failure
// wraps ErrBroken, ErrServerFailure, ErrConnect or ErrClosed; the end of ctx
// returns ctx.Err().
func (c *Client) GetKvState(ctx context.Context, addr string, job [16]byte, stateName string, keyHash int32, keyAndNamespace []byte) ([]byte, error) {
	return c.do(ctx, addr, &request{id16: job, name: stateName, keyHash: keyHash, kv: keyAndNamespace})
}

// GetKvStateInternal asks a state server (Flink's port 9067) for the state
// registered as id, under keyAndNamespace (a KvStateInternalRequest). A
// proxy forwards with it. Results and errors are as for GetKvState.
func (c *Client) GetKvStateInternal(ctx context.Context, addr string, id [16]byte, keyAndNamespace []byte) ([]byte, error) {
	return c.do(ctx, addr, &request{internal: true, id16: id, kv: keyAndNamespace})
}

// request is a request to encode: a KvStateRequest, or with internal set a
// KvStateInternalRequest (id16 is then the KvStateID, name and keyHash unused).
type request struct {
	internal bool
	id16     [16]byte
	name     string
	keyHash  int32
	kv       []byte
}

// appendFrame appends r as a REQUEST frame with request id rid. A
// KvStateRequest's bytes equal codec.AppendKvStateRequestFrame's; writing
// them here avoids a string to []byte copy of the state name.
func (r *request) appendFrame(dst []byte, rid int64) []byte {
	if r.internal {
		return codec.AppendKvStateInternalRequestFrame(dst, rid, codec.KvStateInternalRequest{KvStateID: r.id16, KeyAndNamespace: r.kv})
	}
	dst = codec.AppendHeader(dst, codec.Request, rid, 16+4+len(r.name)+4+4+len(r.kv))
	dst = append(dst, r.id16[:]...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(r.name)))
	dst = append(dst, r.name...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(r.keyHash))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(r.kv)))
	return append(dst, r.kv...)
}

// call is one request waiting for its answer. The reader (or fail) sets
// content and err, then sends on done; the caller reads them after
// receiving. Calls are recycled through callPool once their caller has
// received from done, or has removed them from inFlight itself.
type call struct {
	done    chan struct{} // capacity 1
	content []byte
	err     error
}

var callPool = sync.Pool{New: func() any { return &call{done: make(chan struct{}, 1)} }}

func getCall() *call { return callPool.Get().(*call) }

func putCall(cl *call) {
	cl.content, cl.err = nil, nil
	callPool.Put(cl)
}

// complete hands the answer to the waiting caller. Only the goroutine that
// removed cl from its connection's inFlight map may call it, once.
func (cl *call) complete(content []byte, err error) {
	cl.content, cl.err = content, err
	cl.done <- struct{}{}
}

// do sends r on the connection to addr and waits for the answer or the end
// of ctx (C2).
func (c *Client) do(ctx context.Context, addr string, r *request) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cl := getCall()
	cn, rid, err := c.enqueue(addr, r, cl)
	if err != nil {
		putCall(cl)
		return nil, err
	}
	select {
	case <-cl.done:
	case <-ctx.Done():
		if cn.cancel(rid, cl) {
			putCall(cl)
			return nil, ctx.Err()
		}
		// The answer (or the connection's failure) is being delivered:
		// it was taken out of inFlight before we could remove it.
		<-cl.done
	}
	content, err := cl.content, cl.err
	putCall(cl)
	return content, err
}

// enqueue registers cl as in flight on addr's connection under a fresh
// request id and queues r's frame for the writer.
func (c *Client) enqueue(addr string, r *request, cl *call) (*conn, int64, error) {
	var stale *conn
	for {
		cn, fresh, err := c.conn(addr, stale)
		if err != nil {
			return nil, 0, err
		}
		rid, err := cn.enqueue(r, cl)
		switch {
		case err == nil:
			return cn, rid, nil
		case err != errConnFailed:
			return nil, 0, err
		case fresh || stale != nil:
			// A connection dialled for this call failed already (a refused
			// dial is that fast), or a second one did: report why.
			return nil, 0, cn.failure()
		}
		stale = cn // it failed between look-up and enqueue: replace it once
	}
}

// conn returns the live connection to addr, creating one (and starting its
// goroutines) when there is none or the one in the map is stale; fresh
// reports that it created it.
func (c *Client) conn(addr string, stale *conn) (cn *conn, fresh bool, err error) {
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return nil, false, ErrClosed
	}
	cn = c.conns[addr]
	c.mu.RUnlock()
	if cn != nil && cn != stale && !cn.failed.Load() {
		return cn, false, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, false, ErrClosed
	}
	cn = c.conns[addr]
	if cn != nil && cn != stale && !cn.failed.Load() {
		return cn, false, nil
	}
	cn = newConn(c, addr)
	c.conns[addr] = cn
	c.dials.Add(1)
	c.wg.Add(1)
	go cn.run()
	return cn, true, nil
}

// forget removes cn from the map if it is still there.
func (c *Client) forget(cn *conn) {
	c.mu.Lock()
	if c.conns[cn.addr] == cn {
		delete(c.conns, cn.addr)
	}
	c.mu.Unlock()
}
