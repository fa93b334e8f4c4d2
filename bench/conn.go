package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Request ids carry the slot index in their low slotBits bits and a
// per-connection sequence number above them, so a Flink response (which may
// come back out of order) finds its slot in O(1) and a stale or foreign id
// is caught.
const (
	slotBits = 16
	slotMask = 1<<slotBits - 1
)

// Latencies are recorded in nanoseconds, from 1 ns to histMax (3 significant digits).
const histMax = int64(time.Minute)

func newHistogram() *hdrhistogram.Histogram { return hdrhistogram.New(1, histMax, 3) }

// runState is shared by the controller and every connection.
type runState struct {
	start   time.Time
	phase   atomic.Int32 // a Phase: warmup, measure, drain
	limited bool         // the window ends after Config.Requests
	budget  atomic.Int64 // requests left to send in the window when limited

	endOnce   sync.Once
	ended     chan struct{} // closed when the window ends (timer or budget)
	windowEnd atomic.Int64  // since start, when the window ended
}

func newRunState(limit int64) *runState {
	s := &runState{start: time.Now(), ended: make(chan struct{}), limited: limit > 0}
	s.budget.Store(limit)
	return s
}

// since is the monotonic time since the run started.
func (s *runState) since() time.Duration { return time.Since(s.start) }

// claim decides whether a connection may send one more request, and
// whether that request is measured. In a limited window exactly
// Config.Requests claims succeed (I1).
func (s *runState) claim() (send, measured bool) {
	switch Phase(s.phase.Load()) {
	case PhaseWarmup:
		return true, false
	case PhaseMeasure:
		if !s.limited {
			return true, true
		}
		left := s.budget.Add(-1)
		if left < 0 {
			return false, false
		}
		if left == 0 {
			s.endWindow()
		}
		return true, true
	}
	return false, false
}

// endWindow closes the measured window: no new requests are sent.
func (s *runState) endWindow() {
	s.endOnce.Do(func() {
		s.windowEnd.Store(int64(s.since()))
		s.phase.Store(int32(PhaseDrain))
		close(s.ended)
	})
}

// slot is one request in flight.
type slot struct {
	id       uint64
	sent     time.Duration // since run start, stamped when the request is written
	key      int32
	used     bool
	measured bool
}

// conn is one connection's closed loop. Everything but the atomics at the
// end belongs to the connection's goroutine until loop returns.
type conn struct {
	nc     net.Conn
	r      *bufio.Reader
	w      []byte // requests appended since the last write
	wire   wire
	run    *runState
	keys   keyGen
	verify bool

	slots     []slot
	free      []int32 // free slot indices (a stack)
	ring      []int32 // ordered protocols: slots in send order
	ringHead  int
	ringLen   int
	unstamped []int32 // slots appended since the last write
	inflight  int
	seq       uint64
	scratch   []byte        // responses larger than r's buffer
	readAt    time.Duration // when the last read returned; completion time of what it brought

	hist      *hdrhistogram.Histogram
	errs      errorCounts
	sent      int64 // measured requests issued
	completed int64 // measured responses received
	ok        int64 // measured responses that were right
	lastDone  time.Duration
	err       error // why the connection failed; nil when it finished cleanly

	// Shared with the controller.
	progress atomic.Int64 // completed, published
	active   atomic.Int64 // since start, when the connection last received bytes
	timedOut atomic.Bool
	aborted  atomic.Bool
	finished atomic.Bool
}

// readerSize is the read buffer: room for many pipelined responses.
func readerSize(respSize int) int {
	n := 64 << 10
	for n < 4*respSize && n < 4<<20 {
		n *= 2
	}
	return n
}

func newConn(nc net.Conn, w wire, run *runState, keys keyGen, cfg Config, respSize int) *conn {
	p := cfg.Pipeline
	c := &conn{
		nc:        nc,
		r:         bufio.NewReaderSize(nc, readerSize(respSize)),
		w:         make([]byte, 0, 4096),
		wire:      w,
		run:       run,
		keys:      keys,
		verify:    cfg.Verify,
		slots:     make([]slot, p),
		free:      make([]int32, p),
		unstamped: make([]int32, 0, p),
		hist:      newHistogram(),
	}
	for i := range c.free {
		c.free[i] = int32(p - 1 - i)
	}
	if w.ordered() {
		c.ring = make([]int32, p)
	}
	c.active.Store(int64(run.since()))
	return c
}

// loop runs the closed loop until the window has ended and every request
// in flight is answered, or the connection fails. It closes the connection.
func (c *conn) loop() {
	defer c.finished.Store(true)
	defer c.nc.Close()
	c.fill()
	for c.inflight > 0 {
		if err := c.step(); err != nil {
			c.fail(err)
			return
		}
	}
}

// fill issues requests until Pipeline are in flight or the run allows no more.
func (c *conn) fill() {
	for c.inflight < len(c.slots) {
		send, measured := c.run.claim()
		if !send {
			return
		}
		c.push(measured)
	}
}

// push appends one request to the write buffer.
func (c *conn) push(measured bool) {
	i := c.free[len(c.free)-1]
	c.free = c.free[:len(c.free)-1]
	c.seq++
	key := c.keys.next()
	s := &c.slots[i]
	*s = slot{id: c.seq<<slotBits | uint64(i), key: int32(key), used: true, measured: measured}
	c.w = c.wire.appendRequest(c.w, key, s.id)
	c.unstamped = append(c.unstamped, i)
	if c.ring != nil {
		c.ring[(c.ringHead+c.ringLen)%len(c.ring)] = i
		c.ringLen++
	}
	c.inflight++
	if measured {
		c.sent++
	}
}

// flush writes the pending requests, stamping their send time.
func (c *conn) flush() error {
	if len(c.w) == 0 {
		return nil
	}
	now := c.run.since()
	for _, i := range c.unstamped {
		c.slots[i].sent = now
	}
	c.unstamped = c.unstamped[:0]
	_, err := c.nc.Write(c.w)
	c.w = c.w[:0]
	return err
}

// step handles one buffered response, or, when none is whole, writes the
// pending requests and blocks for more bytes.
func (c *conn) step() error {
	buf, _ := c.r.Peek(c.r.Buffered())
	r, n, need, err := c.wire.parse(buf)
	if err != nil {
		return err
	}
	if n > 0 {
		if err := c.handle(r); err != nil {
			return err
		}
		_, _ = c.r.Discard(n)
		c.fill()
		return nil
	}
	if err := c.flush(); err != nil {
		return err
	}
	if need > c.r.Size() {
		return c.stepLarge(need)
	}
	want := need
	if want == 0 {
		want = len(buf) + 1
	}
	if want > c.r.Size() {
		return fmt.Errorf("%w: response does not fit %d bytes", ErrProtocol, c.r.Size())
	}
	if _, err := c.r.Peek(want); err != nil {
		return err
	}
	c.readAt = c.run.since()
	c.active.Store(int64(c.readAt))
	return nil
}

// stepLarge reads and handles a response larger than the read buffer
// (bounded by Config.MaxFrameLen, which the parser checked).
func (c *conn) stepLarge(need int) error {
	if cap(c.scratch) < need {
		c.scratch = make([]byte, need)
	}
	b := c.scratch[:need]
	if _, err := io.ReadFull(c.r, b); err != nil {
		return err
	}
	c.readAt = c.run.since()
	c.active.Store(int64(c.readAt))
	r, n, _, err := c.wire.parse(b)
	if err != nil {
		return err
	}
	if n != need {
		return fmt.Errorf("%w: response of %d bytes announced %d", ErrProtocol, n, need)
	}
	if err := c.handle(r); err != nil {
		return err
	}
	c.fill()
	return nil
}

// handle matches a response to its slot, records it and frees the slot.
func (c *conn) handle(r response) error {
	if r.out == outServerFailure {
		return &serverFailureError{class: string(r.class)}
	}
	var i int32
	if c.ring != nil {
		if c.ringLen == 0 {
			return fmt.Errorf("%w: a response with no request in flight", ErrProtocol)
		}
		i = c.ring[c.ringHead]
		c.ringHead = (c.ringHead + 1) % len(c.ring)
		c.ringLen--
	} else {
		i = int32(r.id & slotMask)
		if int(i) >= len(c.slots) || !c.slots[i].used || c.slots[i].id != r.id {
			return unknownIDError(r.id)
		}
	}
	s := &c.slots[i]
	if s.measured {
		c.completed++
		lat := int64(c.readAt - s.sent)
		if lat < 1 {
			lat = 1
		} else if lat > histMax {
			lat = histMax
		}
		_ = c.hist.RecordValue(lat)
		switch {
		case r.out == outRequestFailure:
			c.errs.add(KindRequestFailure, r.class, 1)
		case c.verify && !c.wire.verify(int(s.key), r.content):
			c.errs.add(KindWrongValue, nil, 1)
		default:
			c.ok++
		}
		if c.readAt > c.lastDone {
			c.lastDone = c.readAt
		}
		c.progress.Store(c.completed)
	}
	s.used = false
	c.free = append(c.free, i)
	c.inflight--
	return nil
}

func unknownIDError(id uint64) error {
	return fmt.Errorf("%w: response to unknown request id %d", ErrProtocol, id)
}

// serverFailureError is a SERVER_FAILURE frame, with its Java class.
type serverFailureError struct{ class string }

func (e *serverFailureError) Error() string { return ErrServerFailure.Error() + ": " + e.class }
func (e *serverFailureError) Unwrap() error { return ErrServerFailure }

// fail records why the connection stopped and counts the measured
// requests still in flight as lost, under the kind the reason gives.
func (c *conn) fail(err error) {
	switch {
	case c.timedOut.Load():
		err = fmt.Errorf("%w (%v)", ErrTimeout, err)
	case c.aborted.Load():
		err = fmt.Errorf("%w (%v)", ErrAborted, err)
	}
	kind, class := KindConnection, []byte(nil)
	var sf *serverFailureError
	switch {
	case errors.As(err, &sf):
		kind, class = KindServerFailure, []byte(sf.class)
	case errors.Is(err, ErrProtocol):
		kind = KindProtocol
	}
	var lost int64
	for i := range c.slots {
		if c.slots[i].used && c.slots[i].measured {
			lost++
		}
	}
	if lost > 0 {
		c.errs.add(kind, class, lost)
	}
	c.err = err
}
