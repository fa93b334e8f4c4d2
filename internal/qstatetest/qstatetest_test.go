package qstatetest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/qstate/qstate/codec"
)

// failRecorder is a testing.TB whose Fatalf records the message and ends
// the goroutine, as testing.T's does.
type failRecorder struct {
	testing.TB
	msg string
}

func (r *failRecorder) Helper() {}

func (r *failRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// failure runs wait with a recorder and returns what it failed with ("" if
// it did not fail).
func failure(t *testing.T, wait func(tb testing.TB)) string {
	r := &failRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		wait(r)
	}()
	Recv(t, done, Timeout, "the wait to return")
	return r.msg
}

func TestWaitsFailWithTheirMessage(t *testing.T) {
	const d = 20 * time.Millisecond
	var ev Events[int]
	for name, wait := range map[string]func(testing.TB){
		"Eventually": func(tb testing.TB) { Eventually(tb, d, func() bool { return false }, "the sky to fall") },
		"Recv":       func(tb testing.TB) { Recv(tb, make(chan int), d, "the sky to fall") },
		"Events":     func(tb testing.TB) { ev.WaitN(tb, d, 2, nil, "the sky to fall") },
		"Retry":      func(tb testing.TB) { Retry(tb, d, func() error { return errors.New("still up") }, "the sky to fall") },
	} {
		msg := failure(t, wait)
		if !strings.Contains(msg, "timed out after 20ms waiting for the sky to fall") {
			t.Errorf("%s failed with %q", name, msg)
		}
		if name == "Retry" && !strings.Contains(msg, "still up") {
			t.Errorf("Retry failed with %q, without the last error", msg)
		}
	}
}

func TestWaitsReturnOnTheEvent(t *testing.T) {
	n := 0
	if msg := failure(t, func(tb testing.TB) {
		Eventually(tb, Timeout, func() bool { n++; return n > 3 }, "n > 3")
	}); msg != "" || n != 4 {
		t.Errorf("Eventually: %q after %d looks", msg, n)
	}
	ch := make(chan int, 1)
	ch <- 7
	if v := Recv(t, ch, Timeout, "7"); v != 7 {
		t.Errorf("Recv = %d", v)
	}
	var ev Events[int]
	go func() {
		for i := range 5 {
			ev.Add(i)
		}
	}()
	got := ev.WaitN(t, Timeout, 2, func(i int) bool { return i%2 == 1 }, "two odd events")
	if len(got) != 2 || got[0] != 1 || got[1] != 3 {
		t.Errorf("WaitN = %v, want [1 3]", got)
	}
	if c := ev.Count(nil); c < 4 {
		t.Errorf("Count = %d after event 3", c)
	}
}

// TestServerAnswers: a reply server answers each frame on its connection,
// counts connections and records their closes; ReadFrame reads what it
// wrote and refuses a length over MaxFrameLen.
func TestServerAnswers(t *testing.T) {
	s := NewReplyServer(t, func(f codec.Frame) []byte {
		if bytes.Equal(f.Body, []byte("quiet")) {
			return nil
		}
		return codec.AppendResultFrame(nil, f.RequestID, f.Body)
	})
	c := Dial(t, s.Addr())
	if _, err := c.Write(append(append(RequestFrame(1, []byte("a")), RequestFrame(2, []byte("quiet"))...), RequestFrame(3, []byte("b"))...)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		id      int64
		content string
	}{{1, "a"}, {3, "b"}} {
		f, raw := MustReadFrame(t, c)
		r, err := codec.DecodeKvStateResponse(f.Body)
		if f.Type != codec.RequestResult || f.RequestID != want.id || err != nil || string(r) != want.content {
			t.Fatalf("frame %v %d %q %v, want result %d %q", f.Type, f.RequestID, r, err, want.id, want.content)
		}
		if int(binary.BigEndian.Uint32(raw)) != len(raw)-codec.LengthLen {
			t.Fatalf("raw frame %x", raw)
		}
	}
	if s.Accepted() != 1 || s.Open() != 1 {
		t.Fatalf("accepted %d, open %d", s.Accepted(), s.Open())
	}
	c.Close()
	if n := s.Closed.Wait(t, Timeout, nil, "the connection to end"); n != 0 || s.Open() != 0 {
		t.Fatalf("closed connection %d, %d open", n, s.Open())
	}
	huge := binary.BigEndian.AppendUint32(nil, MaxFrameLen+1)
	if _, _, err := ReadFrame(bytes.NewReader(huge)); err == nil {
		t.Fatal("ReadFrame accepted a frame over MaxFrameLen")
	}
}

// TestExpectClosed: a connection the peer closes passes; one that stays
// open fails, saying so.
func TestExpectClosed(t *testing.T) {
	open := NewServer(t, func(_ int, c *Conn) { c.Drain() })
	closing := NewServer(t, func(int, *Conn) {})
	ExpectClosed(t, Dial(t, closing.Addr()))
	c := Dial(t, open.Addr())
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if msg := failure(t, func(tb testing.TB) { ExpectClosed(tb, c) }); !strings.Contains(msg, "still open") {
		t.Errorf("ExpectClosed on an open connection: %q", msg)
	}
}

// TestIsClosed: false while the channel is open, true once it is closed.
func TestIsClosed(t *testing.T) {
	ch := make(chan struct{})
	if IsClosed(ch) {
		t.Error("IsClosed on an open channel")
	}
	close(ch)
	if !IsClosed(ch) {
		t.Error("IsClosed false on a closed channel")
	}
}

// TestBlockingState: a Get reports that it began and does not answer
// before Release; then it answers the value.
func TestBlockingState(t *testing.T) {
	bs := NewBlockingState([]byte{42}, 1)
	type answer struct {
		v     []byte
		found bool
		err   error
	}
	answered := make(chan answer, 1)
	go func() {
		v, found, err := bs.Get(nil)
		answered <- answer{v, found, err}
	}()
	Recv(t, bs.Entered, Timeout, "the Get to begin")
	select {
	case a := <-answered:
		t.Fatalf("Get answered %v before Release", a)
	default:
	}
	bs.Release()
	bs.Release() // idempotent
	if a := Recv(t, answered, Timeout, "the Get to answer"); !bytes.Equal(a.v, []byte{42}) || !a.found || a.err != nil {
		t.Errorf("Get = %v", a)
	}
}
