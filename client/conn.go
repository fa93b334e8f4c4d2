package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"github.com/qstate/qstate/bufpool"
	"github.com/qstate/qstate/codec"
)

// maxRetainedWriteBuf is the largest outgoing buffer a connection keeps
// between batches; a larger one (after a burst of big requests) is dropped
// so an idle connection holds little memory.
const maxRetainedWriteBuf = 1 << 20

// maxQueuedBytes bounds the frames queued on a connection and not yet
// written. Cancelled requests leave their frames queued, so MaxInFlight
// alone does not bound them when a server stops reading; past this bound
// calls fail with ErrTooManyInFlight until the writer catches up.
var maxQueuedBytes = 64 << 20 // a variable so that a test can lower it

// errConnFailed tells enqueue that the connection failed before the request
// could be queued; the caller then tries a fresh connection.
var errConnFailed = errors.New("client: connection failed")

// conn is one pipelined connection to one server address. Lock order:
// Client.mu before conn.mu, and neither is held while doing I/O.
type conn struct {
	failOnce sync.Once // fail runs its body once (the first error wins)
	c        *Client
	addr     string

	failed atomic.Bool   // mirrors err != nil, read without mu by Client.conn
	wake   chan struct{} // capacity 1: out has bytes for the writer
	done   chan struct{} // closed when the connection fails

	mu       sync.Mutex
	err      error           // why the connection failed; nil while it works
	nc       net.Conn        // nil while dialling
	nextID   int64           // next request id (C1)
	inFlight map[int64]*call // requests waiting for an answer; nil once failed
	out      []byte          // frames queued for the writer
}

func newConn(c *Client, addr string) *conn {
	return &conn{
		c:        c,
		addr:     addr,
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		inFlight: make(map[int64]*call),
	}
}

// enqueue gives r the next request id, queues its frame and registers cl as
// in flight. It returns errConnFailed if the connection has failed.
func (cn *conn) enqueue(r *request, cl *call) (int64, error) {
	cn.mu.Lock()
	if cn.err != nil {
		cn.mu.Unlock()
		return 0, errConnFailed
	}
	if len(cn.inFlight) >= cn.c.cfg.MaxInFlight {
		cn.mu.Unlock()
		return 0, fmt.Errorf("%w: %d on %s", ErrTooManyInFlight, cn.c.cfg.MaxInFlight, cn.addr)
	}
	if len(cn.out) >= maxQueuedBytes {
		n := len(cn.out)
		cn.mu.Unlock()
		return 0, fmt.Errorf("%w: %d bytes queued unsent on %s (is the server reading?)", ErrTooManyInFlight, n, cn.addr)
	}
	rid := cn.nextID
	cn.nextID++
	cn.out = r.appendFrame(cn.out, rid)
	cn.inFlight[rid] = cl
	cn.mu.Unlock()
	select {
	case cn.wake <- struct{}{}:
	default: // the writer is already due to run
	}
	return rid, nil
}

// cancel removes the request in flight rid if it is still cl; it reports
// whether it did. When it did not, the answer is being delivered to cl.
func (cn *conn) cancel(rid int64, cl *call) bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.inFlight[rid] != cl {
		return false
	}
	delete(cn.inFlight, rid)
	return true
}

// failure returns why the connection failed.
func (cn *conn) failure() error {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.err
}

// fail marks the connection failed with err (the first error wins), closes
// it, forgets it and fails every request in flight with err (C4).
func (cn *conn) fail(err error) {
	cn.failOnce.Do(func() { cn.failNow(err) })
}

// failNow is fail's body, run once. The connection leaves the client's map
// and is counted before its error becomes visible: a caller that sees the
// failure (enqueue reports it at once for a refused dial) finds the client
// already without it.
func (cn *conn) failNow(err error) {
	cn.c.forget(cn)
	if !errors.Is(err, ErrClosed) {
		cn.c.breaks.Add(1)
	}
	cn.mu.Lock()
	cn.err = err
	cn.failed.Store(true)
	inFlight := cn.inFlight
	cn.inFlight = nil
	cn.out = nil
	nc := cn.nc
	close(cn.done)
	cn.mu.Unlock()

	if nc != nil {
		_ = nc.Close()
	}
	if !errors.Is(err, ErrClosed) {
		cn.c.cfg.Logger.Warn().Str("addr", cn.addr).Int("in_flight", len(inFlight)).Err(err).Msg("client: connection failed")
	}
	for _, cl := range inFlight {
		cl.complete(nil, err)
	}
}

// run dials, starts the reader, then writes queued frames until the
// connection fails. It is the connection's writer goroutine.
func (cn *conn) run() {
	defer cn.c.wg.Done()
	cfg := &cn.c.cfg
	ctx, cancel := context.WithTimeout(cn.c.ctx, cfg.DialTimeout)
	nc, err := cfg.Dial(ctx, "tcp", cn.addr)
	cancel()
	if err != nil {
		if cn.c.ctx.Err() != nil {
			err = ErrClosed
		} else {
			err = fmt.Errorf("%w: %s: %w", ErrConnect, cn.addr, err)
		}
		cn.fail(err)
		return
	}
	cn.mu.Lock()
	if cn.err != nil { // Close ran while we dialled
		cn.mu.Unlock()
		_ = nc.Close()
		return
	}
	cn.nc = nc
	cn.mu.Unlock()
	cfg.Logger.Debug().Str("addr", cn.addr).Str("local", nc.LocalAddr().String()).Msg("client: connected")

	cn.c.wg.Add(1)
	go cn.readLoop(nc)
	cn.writeLoop(nc)
}

// writeLoop writes the frames callers queue, every batch in one Write (C6).
func (cn *conn) writeLoop(nc net.Conn) {
	var buf []byte
	for {
		select {
		case <-cn.wake:
		case <-cn.done:
			return
		}
		cn.mu.Lock()
		if cn.err != nil {
			cn.mu.Unlock()
			return
		}
		buf, cn.out = cn.out, buf[:0]
		cn.mu.Unlock()
		if len(buf) == 0 {
			continue
		}
		if _, err := nc.Write(buf); err != nil {
			cn.fail(broken(cn.addr, "write", err))
			return
		}
		if cap(buf) > maxRetainedWriteBuf {
			buf = nil
		}
		buf = buf[:0]
	}
}

// readLoop reads and dispatches frames until the stream breaks or the
// connection fails. It is the connection's reader goroutine.
func (cn *conn) readLoop(nc net.Conn) {
	defer cn.c.wg.Done()
	err := cn.read(nc)
	cn.fail(err)
}

// read runs the read loop and returns why it stopped. The read buffer holds
// buf[start:end] undecoded. It is the connection's small buffer, or while a
// frame larger than that arrives a bufpool buffer of the frame's size class
// (so never beyond twice MaxFrameLen plus the prefix, C7), returned after.
func (cn *conn) read(nc net.Conn) error {
	cfg := &cn.c.cfg
	small := make([]byte, cfg.ReadBufferSize)
	buf := small
	start, end := 0, 0
	for {
		n, rerr := nc.Read(buf[end:])
		end += n
		for start < end {
			f, fn, err := codec.DecodeFrame(buf[start:end], cfg.MaxFrameLen)
			if err != nil {
				return broken(cn.addr, "bad frame", err)
			}
			if fn == 0 {
				break
			}
			if err := cn.dispatch(f); err != nil {
				return err
			}
			start += fn
		}
		if rerr != nil {
			if cn.failed.Load() {
				return ErrClosed // our own Close (or fail) closed nc; fail keeps the first error
			}
			if rerr == io.EOF && start < end {
				rerr = io.ErrUnexpectedEOF
			}
			return broken(cn.addr, "read", rerr)
		}
		// Make room for the rest of the current frame.
		need := cfg.ReadBufferSize
		if ln, ok := codec.FrameLength(buf[start:end]); ok {
			need = max(need, codec.LengthLen+int(ln)) // DecodeFrame checked ln against the limit
		}
		switch {
		case need > len(buf): // a large frame: a pooled buffer of its size class
			nb := bufpool.Get(need)
			nb = nb[:cap(nb)]
			end = copy(nb, buf[start:end])
			if len(buf) > cfg.ReadBufferSize {
				bufpool.Put(buf)
			}
			buf, start = nb, 0
		case len(buf) > cfg.ReadBufferSize && need <= cfg.ReadBufferSize: // back to the small buffer
			end = copy(small, buf[start:end])
			bufpool.Put(buf)
			buf, start = small, 0
		case start == end:
			start, end = 0, 0
		case len(buf)-start < need:
			end = copy(buf, buf[start:end])
			start = 0
		}
	}
}

// dispatch handles one decoded frame. It returns an error when the frame
// breaks the connection (C4, C5).
func (cn *conn) dispatch(f codec.Frame) error {
	switch f.Type {
	case codec.RequestResult:
		content, err := codec.DecodeKvStateResponse(f.Body)
		if err != nil {
			return broken(cn.addr, fmt.Sprintf("response %d", f.RequestID), err)
		}
		if cl := cn.take(f.RequestID); cl != nil {
			b := bufpool.Get(len(content))
			cl.complete(append(b, content...), nil)
		}
	case codec.RequestFailure:
		jex, err := codec.DecodeFailure(f)
		if err != nil {
			return broken(cn.addr, fmt.Sprintf("failure payload of request %d", f.RequestID), err)
		}
		if cl := cn.take(f.RequestID); cl != nil {
			cl.complete(nil, &RequestError{Addr: cn.addr, RequestID: f.RequestID, Exception: jex})
		}
	case codec.ServerFailure:
		jex, err := codec.DecodeFailure(f)
		if err != nil {
			return broken(cn.addr, "SERVER_FAILURE payload", err)
		}
		return serverFailure(cn.addr, jex)
	default:
		return broken(cn.addr, "frame", fmt.Errorf("%w: %s from a server", codec.ErrUnexpectedType, f.Type))
	}
	return nil
}

// take removes and returns the request in flight rid, or nil when no request
// waits under that id (unknown, cancelled or already answered: ignored).
func (cn *conn) take(rid int64) *call {
	cn.mu.Lock()
	cl := cn.inFlight[rid]
	if cl != nil {
		delete(cn.inFlight, rid)
	}
	cn.mu.Unlock()
	return cl
}
