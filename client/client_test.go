package client

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/internal/qstatetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var testJob = [16]byte{0x59, 0x06, 0xea, 0x8d, 0x89, 0x40, 0x84, 0x2f, 0x9e, 0x05, 0xae, 0xdd, 0xdc, 0x85, 0x17, 0xea}

// TestConcurrentOutOfOrder: 100 goroutines x 100 requests share one
// connection; the server answers each batch it reads in shuffled order; every
// caller gets its own answer (C1, C2, C6).
func TestConcurrentOutOfOrder(t *testing.T) {
	const goroutines, perG = 100, 100
	var outOfOrder, answered atomic.Int64
	var seenMu sync.Mutex
	seen := make(map[int64]bool, goroutines*perG)
	srv := qstatetest.NewServer(t, func(_ int, sc *qstatetest.Conn) {
		var batch []codec.Frame
		var out []byte
		for {
			f, err := sc.ReadFrame()
			if err != nil {
				return
			}
			seenMu.Lock()
			seen[f.RequestID] = true
			seenMu.Unlock()
			batch = append(batch, f)
			if sc.R.Buffered() > 0 && len(batch) < 256 {
				continue // more requests already here: answer them together
			}
			rand.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
			out = out[:0]
			for i, f := range batch {
				if i > 0 && f.RequestID < batch[i-1].RequestID {
					outOfOrder.Add(1)
				}
				out = codec.AppendResultFrame(out, f.RequestID, answerOf(kvOf(f, false), f.RequestID))
			}
			answered.Add(int64(len(batch)))
			batch = batch[:0]
			if _, err := sc.Write(out); err != nil {
				return
			}
		}
	})
	c := newClient(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				kv := kvFor(g, i)
				content, err := c.GetKvState(ctx, srv.Addr(), testJob, "state", int32(g), kv)
				if err != nil {
					errs <- fmt.Errorf("g%d i%d: %w", g, i, err)
					return
				}
				if !checkAnswer(content, kv) {
					errs <- fmt.Errorf("g%d i%d: got %x, want answer to %x", g, i, content, kv)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := srv.Accepted(); got != 1 {
		t.Errorf("server accepted %d connections, want 1", got)
	}
	if got := answered.Load(); got != goroutines*perG {
		t.Errorf("server answered %d requests, want %d", got, goroutines*perG)
	}
	if outOfOrder.Load() == 0 {
		t.Errorf("the server never answered out of order: the test proves nothing")
	}
	seenMu.Lock()
	for id := range int64(goroutines * perG) {
		if !seen[id] {
			t.Errorf("request id %d never sent (ids must run 0..%d)", id, goroutines*perG-1)
			break
		}
	}
	seenMu.Unlock()
	if s := c.Stats(); s.InFlight != 0 || s.Dials != 1 || s.Failures != 0 {
		t.Errorf("stats %+v, want none in flight, 1 dial, no failure", s)
	}
}

// TestDeadlineNoAnswer: a server that never answers makes the call return at
// its deadline with context.DeadlineExceeded, removes the request in flight and
// leaves no goroutine after Close (C2, C3).
func TestDeadlineNoAnswer(t *testing.T) {
	received := make(chan struct{}, 4) // one per request read
	srv := qstatetest.NewServer(t, func(_ int, sc *qstatetest.Conn) {
		for {
			if _, err := sc.ReadFrame(); err != nil {
				return
			}
			received <- struct{}{}
		}
	})
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	const timeout = 100 * time.Millisecond
	start := time.Now() // before the context: its deadline is at most start+timeout
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, err = c.GetKvState(ctx, srv.Addr(), testJob, "state", 1, kvFor(0, 0))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if el := time.Since(start); el < timeout || el > timeout+5*time.Second {
		t.Errorf("returned after %v, want about %v", el, timeout)
	}
	qstatetest.Recv(t, received, qstatetest.Timeout, "the request at the server")
	if s := c.Stats(); s.InFlight != 0 || s.Connections != 1 {
		t.Errorf("stats after deadline %+v, want 0 in flight on 1 connection", s)
	}
	// A cancelled context fails the same way, with context.Canceled.
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() {
		defer cancel2()
		select { // cancel once the request reached the server: it is in flight then
		case <-received:
		case <-time.After(qstatetest.Timeout):
			t.Errorf("the second request never reached the server")
		}
	}()
	if _, err := c.GetKvState(ctx2, srv.Addr(), testJob, "state", 1, kvFor(0, 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if s := c.Stats(); s.InFlight != 0 {
		t.Errorf("in flight after cancel = %d, want 0", s.InFlight)
	}
	// An already-ended context sends nothing.
	if _, err := c.GetKvState(ctx, srv.Addr(), testJob, "state", 1, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	goleak.VerifyNone(t)
}

// TestServerFailure: a SERVER_FAILURE fails every request in flight on the
// connection with an error carrying the Java exception; the next call
// succeeds on a new connection (C4).
func TestServerFailure(t *testing.T) {
	const inFlight = 20
	jex := codec.NewRuntimeException("Failed incoming message. Caused by: boom", nil)
	srv := newBreakOnceServer(t, inFlight, func(sc *qstatetest.Conn, _ []codec.Frame) {
		_, _ = sc.Write(codec.AppendServerFailureFrame(nil, failurePayload(jex)))
	})
	c := newClient(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, r := range getAll(ctx, c, srv.Addr(), 0, inFlight) {
		var got *codec.JavaException
		switch err := r.err; {
		case !errors.Is(err, ErrServerFailure):
			t.Errorf("request %d: err = %v, want ErrServerFailure", i, err)
		case !errors.As(err, &got):
			t.Errorf("request %d: %v carries no *codec.JavaException", i, err)
		case got.Class != jex.Class || got.Message != jex.Message:
			t.Errorf("request %d: exception %s: %s, want %s: %s", i, got.Class, got.Message, jex.Class, jex.Message)
		}
	}
	checkRecovered(ctx, t, c, srv, kvFor(1, 1))
	if s := c.Stats(); s.Dials != 2 || s.Failures != 1 || s.Connections != 1 {
		t.Errorf("stats %+v, want 2 dials, 1 failure, 1 connection", s)
	}
}

// TestRequestFailure: a REQUEST_FAILURE fails only its own request, as a
// *RequestError matching codec.ErrUnknownKeyOrNamespace; the other requests
// on the connection succeed (C5).
func TestRequestFailure(t *testing.T) {
	const n = 50
	missing := func(kv []byte) bool { return kv[2]%5 == 0 }
	srv := qstatetest.NewReplyServer(t, func(f codec.Frame) []byte {
		kv := kvOf(f, false)
		var out []byte
		if missing(kv) {
			out = codec.AppendRequestFailureFrame(nil, f.RequestID, failurePayload(codec.NewUnknownKeyOrNamespace(codec.ServerName)))
		} else {
			out = codec.AppendResultFrame(nil, f.RequestID, answerOf(kv, f.RequestID))
		}
		return out
	})
	c := newClient(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, r := range getAll(ctx, c, srv.Addr(), 0, n) {
		if !missing(r.kv) {
			if r.err != nil || !checkAnswer(r.content, r.kv) {
				t.Errorf("request %d: %x, %v", i, r.content, r.err)
			}
			continue
		}
		var re *RequestError
		var jex *codec.JavaException
		switch err := r.err; {
		case !errors.Is(err, codec.ErrUnknownKeyOrNamespace):
			t.Errorf("request %d: err = %v, want codec.ErrUnknownKeyOrNamespace", i, err)
		case !errors.Is(err, ErrRequestFailed):
			t.Errorf("request %d: err = %v, want ErrRequestFailed", i, err)
		case !errors.As(err, &re) || re.Addr != srv.Addr():
			t.Errorf("request %d: err = %v, want *RequestError from %s", i, err, srv.Addr())
		case !errors.As(err, &jex) || jex.Class != "org.apache.flink.queryablestate.exceptions.UnknownKeyOrNamespaceException":
			t.Errorf("request %d: err = %v, want the Java exception", i, err)
		}
	}
	if got := srv.Accepted(); got != 1 {
		t.Errorf("server accepted %d connections, want 1", got)
	}
	if s := c.Stats(); s.Failures != 0 || s.InFlight != 0 {
		t.Errorf("stats %+v, want no failure, none in flight", s)
	}
}

// TestQueueWhileConnecting: requests issued while the dial is held back are
// queued, then all sent (ids 0..n-1, C1) and answered.
func TestQueueWhileConnecting(t *testing.T) {
	const n = 40
	var ids sync.Map
	srv := qstatetest.NewReplyServer(t, func(f codec.Frame) []byte {
		ids.Store(f.RequestID, true)
		return codec.AppendResultFrame(nil, f.RequestID, answerOf(kvOf(f, false), f.RequestID))
	})
	gate := make(chan struct{})
	var dials atomic.Int32
	c := newClient(t, Config{Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan []outcome, 1)
	go func() { done <- getAll(ctx, c, srv.Addr(), 2, n) }()
	qstatetest.Eventually(t, 5*time.Second, func() bool { return c.Stats().InFlight == n }, "all requests queued")
	if got := srv.Accepted(); got != 0 {
		t.Fatalf("server accepted %d connections before the dial was released", got)
	}
	close(gate)
	for i, r := range qstatetest.Recv(t, done, qstatetest.Timeout, "the queued calls to return") {
		if r.err != nil || !checkAnswer(r.content, r.kv) {
			t.Errorf("request %d: %x, %v", i, r.content, r.err)
		}
	}
	for id := range int64(n) {
		if _, ok := ids.Load(id); !ok {
			t.Errorf("request id %d never reached the server", id)
		}
	}
	if d := dials.Load(); d != 1 {
		t.Errorf("%d dials, want 1", d)
	}
}

// TestBrokenStream: whatever breaks the stream fails every request in flight
// with ErrBroken (wrapping the cause) and the next call reconnects (C4, C7).
func TestBrokenStream(t *testing.T) {
	const inFlight = 5
	const maxFrame = 1024
	goodFrame := codec.AppendResultFrame(nil, 0, []byte{1, 2, 3})
	cases := []struct {
		name string
		send func(sc *qstatetest.Conn, fs []codec.Frame) // what the first connection sends after the requests
		want error                                       // besides ErrBroken, when not nil
	}{
		{"bad version", func(sc *qstatetest.Conn, _ []codec.Frame) {
			b := bytes.Clone(goodFrame)
			binary.BigEndian.PutUint32(b[4:], 0x12345678)
			_, _ = sc.Write(b)
		}, codec.ErrBadVersion},
		{"garbage", func(sc *qstatetest.Conn, _ []codec.Frame) {
			_, _ = sc.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
		}, nil},
		{"unknown type", func(sc *qstatetest.Conn, _ []codec.Frame) {
			b := bytes.Clone(goodFrame)
			binary.BigEndian.PutUint32(b[8:], 9)
			_, _ = sc.Write(b)
		}, codec.ErrUnknownMessageType},
		{"REQUEST from server", func(sc *qstatetest.Conn, fs []codec.Frame) {
			_, _ = sc.Write(codec.AppendKvStateInternalRequestFrame(nil, fs[0].RequestID, codec.KvStateInternalRequest{}))
		}, codec.ErrUnexpectedType},
		{"EOF mid-frame", func(sc *qstatetest.Conn, fs []codec.Frame) {
			b := codec.AppendResultFrame(nil, fs[0].RequestID, make([]byte, 100))
			_, _ = sc.Write(b[:50])
			_ = sc.Close()
		}, io.ErrUnexpectedEOF},
		{"EOF between frames", func(sc *qstatetest.Conn, _ []codec.Frame) {
			_ = sc.Close()
		}, io.EOF},
		{"frame over the limit", func(sc *qstatetest.Conn, fs []codec.Frame) {
			_, _ = sc.Write(codec.AppendResultFrame(nil, fs[0].RequestID, make([]byte, maxFrame)))
		}, codec.ErrFrameTooLarge},
		{"huge length prefix", func(sc *qstatetest.Conn, _ []codec.Frame) {
			_, _ = sc.Write([]byte{0x7f, 0xff, 0xff, 0xff})
		}, codec.ErrFrameTooLarge},
		{"negative length prefix", func(sc *qstatetest.Conn, _ []codec.Frame) {
			_, _ = sc.Write([]byte{0x80, 0, 0, 0})
		}, codec.ErrNegativeLength},
		{"negative content length", func(sc *qstatetest.Conn, fs []codec.Frame) {
			b := codec.AppendResultFrame(nil, fs[0].RequestID, []byte{1, 2, 3, 4})
			binary.BigEndian.PutUint32(b[codec.FrameSize(codec.RequestResult, 0):], 0xffffffff)
			_, _ = sc.Write(b)
		}, codec.ErrNegativeLength},
		{"truncated content", func(sc *qstatetest.Conn, fs []codec.Frame) {
			b := codec.AppendHeader(nil, codec.RequestResult, fs[0].RequestID, 6)
			b = binary.BigEndian.AppendUint32(b, 100)
			_, _ = sc.Write(append(b, 1, 2))
		}, codec.ErrTruncated},
		{"undecodable failure payload", func(sc *qstatetest.Conn, fs []codec.Frame) {
			_, _ = sc.Write(codec.AppendRequestFailureFrame(nil, fs[0].RequestID, []byte{0xac, 0xed, 0, 5, 0x73}))
		}, nil},
		{"undecodable SERVER_FAILURE payload", func(sc *qstatetest.Conn, _ []codec.Frame) {
			_, _ = sc.Write(codec.AppendServerFailureFrame(nil, []byte("not java")))
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newBreakOnceServer(t, inFlight, tc.send)
			c := newClient(t, Config{MaxFrameLen: maxFrame})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for i, r := range getAll(ctx, c, srv.Addr(), 3, inFlight) {
				if err := r.err; !errors.Is(err, ErrBroken) {
					t.Errorf("request %d: err = %v, want ErrBroken", i, err)
				} else if tc.want != nil && !errors.Is(err, tc.want) {
					t.Errorf("request %d: err = %v, want it to wrap %v", i, err, tc.want)
				}
			}
			checkRecovered(ctx, t, c, srv, kvFor(3, 99))
		})
	}
}

// TestUnknownIDsIgnored: responses and failures for ids nobody waits for
// are dropped; the connection keeps working (C4).
func TestUnknownIDsIgnored(t *testing.T) {
	srv := qstatetest.NewReplyServer(t, func(f codec.Frame) []byte {
		var out []byte
		out = codec.AppendResultFrame(out, f.RequestID+1000, []byte("stray"))
		out = codec.AppendRequestFailureFrame(out, -1, failurePayload(codec.NewRuntimeException("stray", nil)))
		out = codec.AppendResultFrame(out, f.RequestID, answerOf(kvOf(f, false), f.RequestID))
		out = codec.AppendResultFrame(out, f.RequestID, []byte("duplicate"))
		return out
	})
	c := newClient(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 20 {
		kv := kvFor(4, i)
		content, err := c.GetKvState(ctx, srv.Addr(), testJob, "state", 0, kv)
		if err != nil || !checkAnswer(content, kv) {
			t.Fatalf("request %d: %x, %v", i, content, err)
		}
	}
	if s := c.Stats(); s.Failures != 0 || s.Dials != 1 {
		t.Errorf("stats %+v, want 1 dial, no failure", s)
	}
}

// TestLargeResponse: a response larger than the read buffer arrives whole
// (the buffer grows for it, then shrinks back), between small ones.
func TestLargeResponse(t *testing.T) {
	big := make([]byte, 300<<10)
	for i := range big {
		big[i] = byte(i * 7)
	}
	srv := qstatetest.NewServer(t, func(_ int, sc *qstatetest.Conn) {
		for {
			f, err := sc.ReadFrame()
			if err != nil {
				return
			}
			content := answerOf(kvOf(f, false), f.RequestID)
			if f.RequestID%2 == 1 {
				content = big
			}
			out := codec.AppendResultFrame(nil, f.RequestID, content)
			// Dribble it out in odd pieces to split frames across reads.
			for len(out) > 0 {
				k := min(len(out), 1+rand.IntN(40000))
				if _, err := sc.Write(out[:k]); err != nil {
					return
				}
				out = out[k:]
			}
		}
	})
	c := newClient(t, Config{ReadBufferSize: 4096})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 6 {
		kv := kvFor(5, i)
		content, err := c.GetKvState(ctx, srv.Addr(), testJob, "state", 0, kv)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if i%2 == 1 && !bytes.Equal(content, big) {
			t.Fatalf("request %d: large content differs (%d bytes)", i, len(content))
		}
		if i%2 == 0 && !checkAnswer(content, kv) {
			t.Fatalf("request %d: %x", i, content)
		}
	}
}

// TestConnectFailure: a refused dial fails the queued calls with ErrConnect;
// the next call dials again.
func TestConnectFailure(t *testing.T) {
	addr := qstatetest.DeadAddr(t)
	c := newClient(t, Config{DialTimeout: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 2 {
		if _, err := c.GetKvState(ctx, addr, testJob, "s", 0, nil); !errors.Is(err, ErrConnect) {
			t.Fatalf("err = %v, want ErrConnect", err)
		}
	}
	if s := c.Stats(); s.Dials != 2 || s.Connections != 0 || s.InFlight != 0 {
		t.Errorf("stats %+v, want 2 dials and nothing left", s)
	}
}

// TestClose: Close fails calls in flight with ErrClosed, later calls return
// ErrClosed, and nothing is left running (C3).
func TestClose(t *testing.T) {
	got := make(chan struct{}, 1)
	srv := qstatetest.NewServer(t, func(_ int, sc *qstatetest.Conn) {
		if _, err := sc.ReadFrame(); err == nil {
			got <- struct{}{}
		}
		sc.Drain()
	})
	// A dial that never completes, to close while dialling too.
	hang := qstatetest.NewServer(t, func(int, *qstatetest.Conn) {})
	c, err := New(Config{Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == hang.Addr() {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	go func() {
		_, err := c.GetKvState(context.Background(), srv.Addr(), testJob, "s", 0, nil)
		errs <- err
	}()
	go func() {
		_, err := c.GetKvStateInternal(context.Background(), hang.Addr(), [16]byte{}, nil)
		errs <- err
	}()
	qstatetest.Recv(t, got, qstatetest.Timeout, "the request at the server")
	qstatetest.Eventually(t, 5*time.Second, func() bool { return c.Stats().InFlight == 2 }, "both requests in flight")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := qstatetest.Recv(t, errs, qstatetest.Timeout, "a call in flight to fail"); !errors.Is(err, ErrClosed) {
			t.Errorf("call in flight: err = %v, want ErrClosed", err)
		}
	}
	if _, err := c.GetKvState(context.Background(), srv.Addr(), testJob, "s", 0, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("call after Close: err = %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	srv.Stop()
	hang.Stop()
	goleak.VerifyNone(t)
}

// TestMaxInFlight: a call beyond Config.MaxInFlight fails at once.
func TestMaxInFlight(t *testing.T) {
	srv := qstatetest.NewServer(t, func(_ int, sc *qstatetest.Conn) { sc.Drain() })
	c := newClient(t, Config{MaxInFlight: 2})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			_, _ = c.GetKvState(ctx, srv.Addr(), testJob, "s", 0, nil)
		})
	}
	qstatetest.Eventually(t, 5*time.Second, func() bool { return c.Stats().InFlight == 2 }, "two in flight")
	if _, err := c.GetKvState(ctx, srv.Addr(), testJob, "s", 0, nil); !errors.Is(err, ErrTooManyInFlight) {
		t.Errorf("third call: err = %v, want ErrTooManyInFlight", err)
	}
	cancel()
	wg.Wait()
}

// TestInternalRequest: GetKvStateInternal sends a KvStateInternalRequest
// with the KvStateID and key bytes given.
func TestInternalRequest(t *testing.T) {
	id := [16]byte{0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	kv := []byte{0x06, 'h', 'e', 'l', 'l', 'o', 0x2a, 0x00}
	srv := qstatetest.NewReplyServer(t, func(f codec.Frame) []byte {
		r, err := codec.DecodeKvStateInternalRequest(f.Body)
		content := []byte("bad request")
		if err == nil && r.KvStateID == id && bytes.Equal(r.KeyAndNamespace, kv) {
			content = []byte("ok")
		}
		return codec.AppendResultFrame(nil, f.RequestID, content)
	})
	c := newClient(t, Config{})
	content, err := c.GetKvStateInternal(context.Background(), srv.Addr(), id, kv)
	if err != nil || string(content) != "ok" {
		t.Fatalf("got %q, %v", content, err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v", err)
	}
	err := Config{DialTimeout: -1, MaxFrameLen: 3, MaxInFlight: -1, ReadBufferSize: -5}.Validate()
	if err == nil {
		t.Fatal("bad Config accepted")
	}
	for _, field := range []string{"DialTimeout", "MaxFrameLen", "MaxInFlight", "ReadBufferSize"} {
		if !bytes.Contains([]byte(err.Error()), []byte(field)) {
			t.Errorf("Validate error %q does not name %s", err, field)
		}
	}
	if _, err := New(Config{MaxInFlight: -1}); err == nil {
		t.Error("New accepted a bad Config")
	}
}

// TestQueuedBytesBound: when a server stops reading, frames of cancelled
// calls pile up unsent; past the bound calls fail with ErrTooManyInFlight
// instead of growing the queue (C7).
func TestQueuedBytesBound(t *testing.T) {
	defer func(old int) { maxQueuedBytes = old }(maxQueuedBytes)
	maxQueuedBytes = 1 << 20
	release := make(chan struct{})
	srv := qstatetest.NewServer(t, func(int, *qstatetest.Conn) { <-release }) // never reads
	t.Cleanup(func() { close(release) })
	c := newClient(t, Config{})
	kv := make([]byte, 512<<10)
	for i := range 200 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		_, err := c.GetKvState(ctx, srv.Addr(), testJob, "s", 0, kv)
		cancel()
		if errors.Is(err, ErrTooManyInFlight) {
			if s := c.Stats(); s.InFlight != 0 {
				t.Errorf("in flight = %d, want 0 (all calls timed out)", s.InFlight)
			}
			return
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("call %d: err = %v, want a deadline", i, err)
		}
	}
	t.Fatal("200 unsent 512 KiB requests never hit the queue bound")
}
