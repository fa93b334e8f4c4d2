package server

import (
	"slices"
	"testing"
)

// TestConnState: Config.ConnState reports each connection New, Active
// while requests are with the handler, Idle once they are answered, and
// Closed with its reason, in that order, for a handler that answers inline
// and for one whose worker writes the answers itself (direct writes).
func TestConnState(t *testing.T) {
	for _, inline := range []bool{true, false} {
		var h Handler = &echoHandler{inline: true}
		name := "inline"
		if !inline {
			w := newWorkerHandler()
			t.Cleanup(w.stop)
			h, name = w, "worker"
		}
		t.Run(name, func(t *testing.T) {
			cfg := Config{}
			ev := watchConns(&cfg)
			s := startServer(t, cfg, h)
			c := dial(t, s)
			for round := range 3 {
				if _, err := c.Write(pipelineFrames(4)); err != nil {
					t.Fatal(err)
				}
				for range 4 {
					readFrame(t, c)
				}
				ev.WaitN(t, ioTimeout, round+1, func(e connEvent) bool { return e.state == ConnIdle },
					"the connection idle after its answers")
			}
			c.Close()
			closed := ev.Wait(t, ioTimeout, isClosed, "the connection closed")
			if closed.reason != ClosePeer {
				t.Errorf("closed for %v, want %v", closed.reason, ClosePeer)
			}
			var states []ConnState
			for _, e := range ev.All() {
				if e.id != closed.id {
					t.Errorf("event %+v of another connection", e)
				}
				states = append(states, e.state)
			}
			want := []ConnState{ConnNew, ConnActive, ConnIdle, ConnActive, ConnIdle, ConnActive, ConnIdle, ConnClosed}
			if !slices.Equal(states, want) {
				t.Errorf("states %v, want %v", states, want)
			}
		})
	}
}

// TestConnStateProtocolClose: a connection closed for a bad frame is
// reported Closed with CloseProtocol.
func TestConnStateProtocolClose(t *testing.T) {
	cfg := Config{}
	ev := watchConns(&cfg)
	s := startServer(t, cfg, &echoHandler{inline: true})
	c := dial(t, s)
	bad := requestFrame(1, []byte("x"))
	bad[4] ^= 0xff // the magic number
	if _, err := c.Write(bad); err != nil {
		t.Fatal(err)
	}
	e := ev.Wait(t, ioTimeout, isClosed, "the connection closed")
	if e.reason != CloseProtocol {
		t.Errorf("closed for %v, want %v", e.reason, CloseProtocol)
	}
	if got := ev.Count(func(e connEvent) bool { return e.state == ConnNew }); got != 1 {
		t.Errorf("%d New events, want 1", got)
	}
}

func TestConnStateString(t *testing.T) {
	for st, want := range map[ConnState]string{ConnNew: "new", ConnActive: "active", ConnIdle: "idle", ConnClosed: "closed", 9: "ConnState(9)"} {
		if got := st.String(); got != want {
			t.Errorf("%d: %q, want %q", int(st), got, want)
		}
	}
}
