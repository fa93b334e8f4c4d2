package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/qstate/qstate/bufpool"
	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/internal/qstatetest"
)

// TestPipelined sends many requests on one connection without waiting and
// matches every answer by id (I1, I2), for pool-like and inline handlers.
func TestPipelined(t *testing.T) {
	for _, inline := range []bool{false, true} {
		t.Run("inline="+strconv.FormatBool(inline), func(t *testing.T) {
			h := &echoHandler{inline: inline}
			s := startEcho(t, Config{}, h)
			c := dial(t, s)
			const n = 3000
			rng := rand.New(rand.NewPCG(1, 2))
			want := make(map[int64][]byte, n)
			var out []byte
			for i := range n {
				body := make([]byte, rng.IntN(64))
				for j := range body {
					body[j] = byte(rng.Uint32())
				}
				if i%500 == 7 {
					body = sizedBody(40 << 10) // over the high watermark: chunked
				}
				want[int64(i)] = content(body)
				out = append(out, requestFrame(int64(i), body)...)
			}
			errc := make(chan error, 1)
			go func() { _, err := c.Write(out); errc <- err }()
			for range n {
				f, _ := readFrame(t, c)
				if f.Type != codec.RequestResult {
					t.Fatalf("type %v", f.Type)
				}
				w, ok := want[f.RequestID]
				if !ok {
					t.Fatalf("unexpected or repeated id %d", f.RequestID)
				}
				got, err := codec.DecodeKvStateResponse(f.Body)
				if err != nil || !bytes.Equal(got, w) {
					t.Fatalf("id %d: content %d bytes, want %d (err %v)", f.RequestID, len(got), len(w), err)
				}
				delete(want, f.RequestID)
			}
			if err := qstatetest.Recv(t, errc, ioTimeout, "the writer to finish"); err != nil {
				t.Fatal(err)
			}
			st := s.Stats()
			if st.Requests != n || st.Batches > n {
				t.Fatalf("stats %+v: want %d requests in at most as many batches", st, n)
			}
		})
	}
}

// TestSplitFrames feeds frames one byte per write and at random split
// points; every frame is answered once.
func TestSplitFrames(t *testing.T) {
	h := &echoHandler{}
	s := startEcho(t, Config{}, h)

	t.Run("byte-by-byte", func(t *testing.T) {
		c := dial(t, s)
		c.(*net.TCPConn).SetNoDelay(true)
		frame := requestFrame(42, []byte("split across writes"))
		for i := range frame {
			if _, err := c.Write(frame[i : i+1]); err != nil {
				t.Fatal(err)
			}
		}
		f, _ := readFrame(t, c)
		got, _ := codec.DecodeKvStateResponse(f.Body)
		if f.RequestID != 42 || string(got) != "split across writes" {
			t.Fatalf("got id %d %q", f.RequestID, got)
		}
	})
	t.Run("random", func(t *testing.T) {
		c := dial(t, s)
		rng := rand.New(rand.NewPCG(3, 4))
		var stream []byte
		const n = 200
		for i := range n {
			stream = append(stream, requestFrame(int64(i), bytes.Repeat([]byte{byte(i)}, rng.IntN(300)))...)
		}
		go func() {
			for len(stream) > 0 {
				k := min(len(stream), 1+rng.IntN(40))
				if _, err := c.Write(stream[:k]); err != nil {
					return
				}
				stream = stream[k:]
			}
		}()
		seen := make(map[int64]bool)
		for range n {
			f, _ := readFrame(t, c)
			got, _ := codec.DecodeKvStateResponse(f.Body)
			if seen[f.RequestID] || len(got) > 0 && got[0] != byte(f.RequestID) {
				t.Fatalf("id %d: repeated or wrong content", f.RequestID)
			}
			seen[f.RequestID] = true
		}
	})
}

// TestBrokenStream: bad version, unknown type, a non-REQUEST type, a
// negative or too-short length each get a SERVER_FAILURE frame, then the
// server closes (I4); a frame over the limit closes without a word.
func TestBrokenStream(t *testing.T) {
	h := &echoHandler{}
	s := startEcho(t, Config{MaxFrameLen: 1024}, h)

	withVersion := func(v uint32) []byte {
		b := requestFrame(1, []byte("x"))
		binary.BigEndian.PutUint32(b[4:], v)
		return b
	}
	withType := func(typ uint32) []byte {
		b := requestFrame(1, []byte("x"))
		binary.BigEndian.PutUint32(b[8:], typ)
		return b
	}
	cases := []struct {
		name    string
		stream  []byte
		class   string // "" = closed without SERVER_FAILURE
		message string
	}{
		{"bad-version", withVersion(1), "java.lang.RuntimeException",
			"Failed incoming message. Caused by: java.lang.IllegalStateException: Version Mismatch:  Found 1, Expected: 2040641296.\n"},
		{"unknown-type", withType(7), "java.lang.RuntimeException",
			"Failed incoming message. Caused by: java.lang.IllegalStateException: Illegal message type with index 7.\n"},
		{"result-type", withType(1), "java.lang.IllegalArgumentException",
			"Unexpected message type REQUEST_RESULT. Expected REQUEST."},
		{"server-failure-type", withType(3), "java.lang.IllegalArgumentException",
			"Unexpected message type SERVER_FAILURE. Expected REQUEST."},
		{"negative-length", []byte{0xff, 0xff, 0xff, 0xfb}, "java.lang.RuntimeException",
			"Exception in server pipeline. Caused by: io.netty.handler.codec.TooLongFrameException: Adjusted frame length exceeds 2147483647: 4294967295 - discarded\n"},
		{"too-short", []byte{0, 0, 0, 8, 0x79, 0xa1, 0xb7, 0x10, 0, 0, 0, 0}, "java.lang.RuntimeException",
			"Failed incoming message. Caused by: java.lang.IllegalArgumentException: Frame length 8 is too short for a request's header and id.\n"},
		{"over-limit", []byte{0, 0, 4, 1}, "", ""},
		{"after-good-frame", append(requestFrame(5, []byte("ok")), withVersion(2)...), "java.lang.RuntimeException",
			"Failed incoming message. Caused by: java.lang.IllegalStateException: Version Mismatch:  Found 2, Expected: 2040641296.\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Stats()
			c := dial(t, s)
			if _, err := c.Write(tc.stream); err != nil {
				t.Fatal(err)
			}
			if tc.name == "after-good-frame" { // the request before the broken frame is answered first
				if f, _ := readFrame(t, c); f.Type != codec.RequestResult || f.RequestID != 5 {
					t.Fatalf("got %v for %d, want the answer to request 5 before the failure", f.Type, f.RequestID)
				}
			}
			if tc.class != "" {
				f, _ := readFrame(t, c)
				if f.Type != codec.ServerFailure {
					t.Fatalf("got %v, want SERVER_FAILURE", f.Type)
				}
				exc, err := codec.DecodeFailure(f)
				if err != nil {
					t.Fatal(err)
				}
				if exc.Class != tc.class || exc.Message != tc.message {
					t.Fatalf("got %s %q, want %s %q", exc.Class, exc.Message, tc.class, tc.message)
				}
			}
			expectEOF(t, c)
			reason := CloseProtocol
			if tc.class == "" {
				reason = CloseFrameTooLarge
			}
			waitFor(t, "close counted", func() bool {
				return s.Stats().ClosedFor(reason) == before.ClosedFor(reason)+1
			})
		})
	}
}

// TestSlowReaderBoundedMemory: 4 MiB answers to a client that does not
// read arrive intact once it does, while the connection holds at most one
// of them plus the low watermark pending: nothing more is built while it
// is under backpressure (I6).
func TestSlowReaderBoundedMemory(t *testing.T) {
	h := &echoHandler{}
	cfg := Config{SocketSendBuffer: 32 << 10}
	s := startEcho(t, cfg, h)

	c := dialRcvBuf(t, s, 16<<10)

	const size = 4 << 20
	var out []byte
	for i := range 3 {
		out = append(out, requestFrame(int64(i), sizedBody(size))...)
	}
	out = append(out, requestFrame(3, []byte("small after big"))...)
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	// Not reading: the server fills the kernel buffers, then holds back.
	waitFor(t, "the connection to be held back", func() bool { return s.Stats().Backpressured == 1 })
	held := s.Stats()
	if held.Requests != 4 {
		t.Logf("dispatched %d of 4 requests before holding back", held.Requests)
	}

	want := pattern(size)
	r := &slowReader{r: c, chunk: 8 << 10}
	for i := range 4 {
		f, _ := readFrame(t, r)
		got, err := codec.DecodeKvStateResponse(f.Body)
		if err != nil || f.RequestID != int64(i) {
			t.Fatalf("frame %d: id %d err %v", i, f.RequestID, err)
		}
		if i < 3 && !bytes.Equal(got, want) {
			t.Fatalf("4 MiB answer %d corrupted (%d bytes)", i, len(got))
		}
		if i == 3 && string(got) != "small after big" {
			t.Fatalf("last answer %q", got)
		}
	}
	st := s.Stats()
	limit := int64(codec.ResultFrameSize(size) + cfg.withDefaults().LowWatermark)
	if st.MaxOutbound > limit || st.MaxOutbound == 0 {
		t.Fatalf("at most %d answer bytes pending, want (0, %d]", st.MaxOutbound, limit)
	}
	if st.BackpressureStarts == 0 {
		t.Fatal("no stall counted")
	}
	t.Logf("at most %d bytes pending, %d stalls", st.MaxOutbound, st.BackpressureStarts)
	waitFor(t, "the connection to resume", func() bool { return s.Stats().Backpressured == 0 })
}

// slowReader reads at most chunk bytes per call.
type slowReader struct {
	r     io.Reader
	chunk int
}

func (s *slowReader) Read(p []byte) (int, error) { return s.r.Read(p[:min(len(p), s.chunk)]) }

// TestBackpressureStopsDispatch: a client that sends but never reads gets
// no more requests dispatched once its pending answers are over the high
// watermark; the requests it buffers past MaxInbound are answered with
// the pushback failure, and once those fill MaxOutbound too it is closed
// as a slow consumer (I6, I10).
func TestBackpressureStopsDispatch(t *testing.T) {
	h := &echoHandler{}
	cfg := Config{SocketSendBuffer: 16 << 10, MaxInbound: 256 << 10, MaxFrameLen: 1 << 10, MaxOutbound: 8 << 20, MaxInFlight: 64}
	s := startEcho(t, cfg, h)
	c := dialRcvBuf(t, s, 8<<10)

	// Eight requests ask for 64 KiB each: 512 KiB of answers nobody reads.
	var first []byte
	for i := range 8 {
		first = append(first, requestFrame(int64(i), sizedBody(64<<10))...)
	}
	if _, err := c.Write(first); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the connection to be held back", func() bool { return s.Stats().Backpressured == 1 })
	// Everything sent from now on stays buffered, until the cap closes us.
	small := requestFrame(100, []byte("more"))
	var batch []byte
	for range 1024 {
		batch = append(batch, small...)
	}
	sent := 8
	for sent < 1<<20 {
		if _, err := c.Write(batch); err != nil {
			break
		}
		sent += 1024
	}
	waitFor(t, "slow consumer close", func() bool { return s.Stats().ClosedFor(CloseSlowConsumer) == 1 })
	st := s.Stats()
	if st.Requests != 8 || st.BackpressureStarts != 1 || st.Rejected == 0 || st.ClosedFor(CloseInboundOverflow) != 0 {
		t.Fatalf("dispatched %d of %d requests, %d stalls, %d pushed back, %d inbound overflows: want 8, 1, some, 0",
			st.Requests, sent, st.BackpressureStarts, st.Rejected, st.ClosedFor(CloseInboundOverflow))
	}
}

// TestMaxInFlight: a connection never has more than MaxInFlight requests
// with the handler.
func TestMaxInFlight(t *testing.T) {
	var inHandler, peak atomic.Int64
	release := make(chan struct{})
	var wg sync.WaitGroup
	h := HandlerFunc(func(reqs []byte, n int, done func([]byte)) {
		if v := inHandler.Add(int64(n)); v > peak.Load() {
			peak.Store(v)
		}
		wg.Go(func() {
			<-release
			inHandler.Add(-int64(n))
			done((&echoHandler{}).answer(reqs, n))
		})
	})
	s := startServer(t, Config{MaxInFlight: 4}, h)
	t.Cleanup(wg.Wait)
	c := dial(t, s)
	var out []byte
	for i := range 20 {
		out = append(out, requestFrame(int64(i), []byte("v"))...)
	}
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "4 requests dispatched", func() bool { return s.Stats().Requests == 4 })
	close(release)
	for range 20 {
		readFrame(t, c)
	}
	// Stop the event loops before the test's closure goes away.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if p := peak.Load(); p != 4 {
		t.Fatalf("peak in flight %d, want 4", p)
	}
}

// TestMaxConns: connections over the limit are closed at once.
func TestMaxConns(t *testing.T) {
	h := &echoHandler{inline: true}
	cfg := Config{MaxConns: 2}
	ev := watchConns(&cfg)
	s := startServer(t, cfg, h)
	var c1, c2 net.Conn
	for i, c := range []*net.Conn{&c1, &c2} { // each sends before the next dials (lockout.go: one slot of two is for proven connections)
		*c = dial(t, s)
		(*c).Write(requestFrame(int64(i), []byte("hi")))
		readFrame(t, *c)
	}
	c3 := dial(t, s)
	expectEOF(t, c3)
	ev.Wait(t, ioTimeout, closedFor(CloseConnLimit), "the third connection refused")
	if st := s.Stats(); st.ClosedFor(CloseConnLimit) != 1 || st.Conns != 2 {
		t.Fatalf("stats %+v", st)
	}
	c1.Close()
	ev.Wait(t, ioTimeout, closedFor(ClosePeer), "c1 closed")
	if n := s.Stats().Conns; n != 1 {
		t.Fatalf("%d connections open after c1 closed, want 1", n)
	}
	c4 := dial(t, s)
	c4.Write(requestFrame(9, []byte("hi")))
	readFrame(t, c4)
}

// TestShutdownAnswersInFlight: Shutdown waits for dispatched requests to
// be answered and written, closes the connections, and leaves no
// goroutine behind (I7).
func TestShutdownAnswersInFlight(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	release := make(chan struct{})
	var wg sync.WaitGroup
	h := HandlerFunc(func(reqs []byte, n int, done func([]byte)) {
		wg.Go(func() {
			<-release
			done((&echoHandler{}).answer(reqs, n))
		})
	})
	s, stop := startStoppable(t, Config{}, h)
	c, idle := dial(t, s), dial(t, s)
	defer c.Close()
	defer idle.Close()
	const n = 10
	var out []byte
	for i := range n {
		out = append(out, requestFrame(int64(i), sizedBody(100<<10))...)
	}
	c.Write(out)
	waitFor(t, "requests dispatched", func() bool { return s.Stats().Requests == n })

	shut := make(chan struct{})
	go func() { // Shutdown, and Serve returned ErrServerClosed (stop fails t if not)
		defer close(shut)
		stop()
	}()
	// The idle connection is closed at once; new ones are refused.
	_ = idle.SetDeadline(time.Now().Add(ioTimeout))
	expectEOF(t, idle)
	close(release)
	for i := range n {
		f, _ := readFrame(t, c)
		if f.Type != codec.RequestResult {
			t.Fatalf("answer %d: %v", i, f.Type)
		}
	}
	expectEOF(t, c)
	qstatetest.Recv(t, shut, ioTimeout, "Shutdown to return")
	wg.Wait()
	if st := s.Stats(); st.InFlight != 0 || st.Conns != 0 {
		t.Fatalf("stats after shutdown %+v", st)
	}
}

// TestShutdownDeadline: a handler that does not answer makes Shutdown
// return the context's error; the batch is released when it finally does.
func TestShutdownDeadline(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	hold := make(chan func([]byte), 1)
	h := HandlerFunc(func(reqs []byte, n int, done func([]byte)) { hold <- done })
	s, err := New(Config{}, h)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve() }()
	qstatetest.Recv(t, s.Ready(), ioTimeout, "the server to listen")
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(requestFrame(1, []byte("never answered")))
	done := qstatetest.Recv(t, hold, ioTimeout, "the request at the handler")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want deadline exceeded", err)
	}
	if err := qstatetest.Recv(t, errc, ioTimeout, "Serve to return"); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	done(bufpool.Get(0)) // late answer to a closed connection: released
	if st := s.Stats(); st.InFlight != 0 {
		t.Fatalf("in flight %d after the late answer", st.InFlight)
	}
}

// TestLifecycle: Serve after Close, Close and Shutdown twice, Shutdown of
// a server that never served.
func TestLifecycle(t *testing.T) {
	s, err := New(Config{}, &echoHandler{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := startServer(t, Config{}, &echoHandler{inline: true})
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s2.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s2.Serve(); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("second Serve: %v", err)
	}
}

// TestPortRange: the first free port of a range is used; a range with no
// free port fails with ErrPortsInUse.
func TestPortRange(t *testing.T) {
	port := func(addr string) int {
		_, p, _ := net.SplitHostPort(addr)
		n, _ := strconv.Atoi(p)
		return n
	}
	p0, p1 := port(qstatetest.BusyAddr(t)), port(qstatetest.BusyAddr(t))

	s, err := New(Config{Addr: "127.0.0.1:" + strconv.Itoa(p0) + "," + strconv.Itoa(p1)}, &echoHandler{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(); !errors.Is(err, ErrPortsInUse) {
		t.Fatalf("Serve on occupied ports: %v", err)
	}

	spec := strconv.Itoa(p0) + "," + strconv.Itoa(p1) + ",0"
	s2 := startServer(t, Config{Addr: "127.0.0.1:" + spec}, &echoHandler{inline: true})
	if p := s2.Addr().Port; p == p0 || p == p1 || p == 0 {
		t.Fatalf("bound port %d", p)
	}
}

func TestParsePorts(t *testing.T) {
	good := []struct {
		in   string
		want []int
	}{
		{"9069", []int{9069}},
		{"9069-9071", []int{9069, 9070, 9071}},
		{"9069-9070,9090, 9069", []int{9069, 9070, 9090}},
		{"0", []int{0}},
		{"65535", []int{65535}},
	}
	for _, tc := range good {
		got, err := ParsePorts(tc.in)
		if err != nil || !equalInts(got, tc.want) {
			t.Errorf("ParsePorts(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "x", "9070-9069", "65536", "-1", "1-", "1,,2", "0-65535,"} {
		if _, err := ParsePorts(in); !errors.Is(err, ErrConfig) {
			t.Errorf("ParsePorts(%q): %v, want ErrConfig", in, err)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero Config: %v", err)
	}
	bad := Config{
		Addr:          "127.0.0.1:70000",
		EventLoops:    -1,
		MaxFrameLen:   8,
		MaxInbound:    4,
		HighWatermark: 100,
		LowWatermark:  200,
		DrainPoll:     -time.Second,
	}
	err := bad.Validate()
	for _, want := range []string{"port", "EventLoops", "MaxFrameLen", "MaxInbound", "LowWatermark", "DrainPoll"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v; want a problem about %s", err, want)
		}
	}
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("%v does not wrap ErrConfig", err)
	}
	if _, err := New(bad, &echoHandler{}); !errors.Is(err, ErrConfig) {
		t.Fatalf("New: %v", err)
	}
	c := Config{MaxFrameLen: 8 << 20}.withDefaults()
	if c.MaxInbound < c.MaxFrameLen+4 {
		t.Fatalf("default MaxInbound %d below MaxFrameLen %d", c.MaxInbound, c.MaxFrameLen)
	}
}

// TestEngineStopReported: when gnet's engine stops by itself (an accept
// error, here provoked by shutting the listening socket down under it, as
// EMFILE would), Serve returns ErrEngineStopped rather than nil.
func TestEngineStopReported(t *testing.T) {
	s, err := New(Config{}, &echoHandler{inline: true})
	if err != nil {
		t.Fatal(err)
	}
	// A duplicate of the listener's descriptor, taken on Serve's goroutine
	// before the event loops start (gnet's listener fields are not ours to
	// read concurrently).
	fdc := make(chan int, 1)
	s.testOnBoot = func(eng gnet.Engine) {
		fd, err := eng.Dup()
		if err != nil {
			fd = -1
		}
		fdc <- fd
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve() }()
	qstatetest.Recv(t, s.Ready(), ioTimeout, "the server to listen")
	fd := qstatetest.Recv(t, fdc, ioTimeout, "the listener's descriptor")
	if fd < 0 {
		t.Fatal("no listener descriptor")
	}
	if err := unix.Shutdown(fd, unix.SHUT_RD); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	select {
	case err := <-errc:
		if !errors.Is(err, ErrEngineStopped) {
			t.Fatalf("Serve: %v, want ErrEngineStopped", err)
		}
	case <-time.After(ioTimeout):
		t.Fatal("Serve did not return after the engine stopped")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
