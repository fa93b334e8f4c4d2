package servertest

import (
	"net"
	"testing"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/internal/qstatetest"
	"github.com/qstate/qstate/server"
)

// TestStartWatchStop: a started server answers; its connection is
// recorded New, Active, Idle, Closed; stop shuts it down, and a second
// stop (the cleanup's) does nothing.
func TestStartWatchStop(t *testing.T) {
	var conns Conns
	h := server.HandlerFunc(func(reqs []byte, n int, done func([]byte)) {
		f, _, _ := codec.DecodeFrame(reqs, 0)
		done(codec.AppendResultFrame(nil, f.RequestID, f.Body))
	})
	s, stop := Start(t, conns.Watch(server.Config{Name: "echo"}), h)
	c := qstatetest.Dial(t, s.Addr().String())
	if _, err := c.Write(qstatetest.RequestFrame(7, []byte("hi"))); err != nil {
		t.Fatal(err)
	}
	if f, _ := qstatetest.MustReadFrame(t, c); f.Type != codec.RequestResult || f.RequestID != 7 {
		t.Fatalf("answer %v %d", f.Type, f.RequestID)
	}
	c.Close()
	conns.WaitClosed(t)
	var states []server.ConnState
	for _, e := range conns.All() {
		states = append(states, e.State)
	}
	want := []server.ConnState{server.ConnNew, server.ConnActive, server.ConnIdle, server.ConnClosed}
	if len(states) != len(want) {
		t.Fatalf("states %v, want %v", states, want)
	}
	for i := range want {
		if states[i] != want[i] {
			t.Fatalf("states %v, want %v", states, want)
		}
	}
	addr := s.Addr().String()
	stop()
	stop()
	if c, err := net.DialTimeout("tcp", addr, qstatetest.Timeout); err == nil {
		c.Close()
		t.Fatal("the server still accepts after stop")
	}
}
