package qstatetest

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// Serving is a server the way server.Server serves: Serve blocks until
// Shutdown, Ready is closed once it listens (or Serve returned), Addr is
// nil until it listens.
type Serving interface {
	Serve() error
	Ready() <-chan struct{}
	Addr() *net.TCPAddr
	Shutdown(ctx context.Context) error
}

// Serve runs s.Serve on a goroutine of its own and returns once s listens,
// with a function that shuts s down gracefully (within Timeout) and checks
// that Serve returned an error matching closed (server.ErrServerClosed).
// The function is idempotent, may be called from any goroutine (it reports
// with t.Errorf), and runs at the test's cleanup.
func Serve(t testing.TB, name string, s Serving, closed error) (stop func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- s.Serve() }()
	Recv(t, s.Ready(), Timeout, name+" to listen")
	if s.Addr() == nil {
		t.Fatalf("%s did not start: %v", name, <-errc)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), Timeout)
			defer cancel()
			if err := s.Shutdown(ctx); err != nil {
				t.Errorf("%s: Shutdown: %v", name, err)
			}
			select { // no Fatal: stop may run on another goroutine than the test's
			case err := <-errc:
				if !errors.Is(err, closed) {
					t.Errorf("%s: Serve returned %v, want %v", name, err, closed)
				}
			case <-time.After(Timeout):
				t.Errorf("%s: Serve did not return after Shutdown", name)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
