package servertest

import (
	"testing"

	"github.com/qstate/qstate/client"
	"github.com/qstate/qstate/internal/qstatetest"
	"github.com/qstate/qstate/server"
)

// Start starts a server for cfg and h (on cfg.Addr; "" means a free
// loopback port) and returns it once it listens, with a function that
// shuts it down gracefully and checks that Serve returned
// server.ErrServerClosed. The function is idempotent, may be called from
// any goroutine (it reports with t.Errorf), and cleanup calls it.
func Start(t testing.TB, cfg server.Config, h server.Handler) (*server.Server, func()) {
	t.Helper()
	s, err := server.New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	name := cfg.Name
	if name == "" {
		name = "server"
	}
	return s, qstatetest.Serve(t, name, s, server.ErrServerClosed)
}

// Conn is one call of server.Config.ConnState.
type Conn struct {
	ID     uint64
	State  server.ConnState
	Reason server.CloseReason
}

// Conns records the connection states of the servers it watches.
type Conns struct{ qstatetest.Events[Conn] }

// Watch makes cfg report its connections' states to c and returns cfg.
func (c *Conns) Watch(cfg server.Config) server.Config {
	cfg.ConnState = func(id uint64, st server.ConnState, r server.CloseReason) { c.Add(Conn{id, st, r}) }
	return cfg
}

// Opened is the number of connections opened so far.
func (c *Conns) Opened() int { return c.Count(func(e Conn) bool { return e.State == server.ConnNew }) }

// WaitClosed waits until every connection opened so far has closed; it
// fails t if that does not happen within qstatetest.Timeout.
func (c *Conns) WaitClosed(t testing.TB) {
	t.Helper()
	c.WaitN(t, qstatetest.Timeout, c.Opened(), func(e Conn) bool { return e.State == server.ConnClosed },
		"every connection opened to close")
}

// NewClient returns a Go client with the default configuration, closed at
// the test's cleanup.
func NewClient(t testing.TB) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
