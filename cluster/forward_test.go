package cluster

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qstate/qstate/client"
	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/handler"
	"github.com/qstate/qstate/internal/qstatetest"
	"github.com/qstate/qstate/registry"
)

var (
	fwdJob  = registry.JobID{7}
	fwdName = []byte("state")
	fwdKey  = []byte{0, 0, 0, 1, 0x2a, 0}
	fwdID   = registry.KvStateID{0xee, 1}
)

// fakeDirectory answers Owner with owner (or err) and counts the calls.
type fakeDirectory struct {
	mu    sync.Mutex
	owner registry.Owner
	err   error
	calls int
	got   []string // "job/name/hash" of each call
}

func (d *fakeDirectory) Owner(_ context.Context, job registry.JobID, name string, keyHash int32) (registry.Owner, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	d.got = append(d.got, job.String()+"/"+name)
	return d.owner, d.err
}

func (d *fakeDirectory) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls
}

// newForwarder returns a Forwarder closed at cleanup.
func newForwarder(t testing.TB, cfg ForwarderConfig) *Forwarder {
	t.Helper()
	f, err := NewForwarder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// countingClient returns a client whose dials are counted.
func countingClient(t testing.TB, dials *atomic.Int64) *client.Client {
	t.Helper()
	var d net.Dialer
	c, err := client.New(client.Config{Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return d.DialContext(ctx, network, addr)
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestForwardOK(t *testing.T) {
	srv := newFakeStateServer(t, func(_ int64, req codec.KvStateInternalRequest) ([]byte, *codec.JavaException, bool) {
		if registry.KvStateID(req.KvStateID) != fwdID || string(req.KeyAndNamespace) != string(fwdKey) {
			return nil, codec.NewRuntimeException("wrong request", nil), true
		}
		return []byte("value"), nil, true
	})
	f := newForwarder(t, ForwarderConfig{})
	got, err := f.Forward(context.Background(), registry.Owner{ID: fwdID, Addr: srv.addr()}, fwdJob, fwdName, 1, fwdKey)
	if err != nil || string(got) != "value" {
		t.Fatalf("Forward = %q, %v", got, err)
	}
	if s := f.Stats(); s != (ForwarderStats{Requests: 1, Attempts: 1}) {
		t.Errorf("Stats = %+v", s)
	}
}

// staleFirst is a fake state server's answer: UnknownKvStateIdException to
// the first stale requests, value to the later ones.
func staleFirst(stale int64, value string) func(n int64, req codec.KvStateInternalRequest) ([]byte, *codec.JavaException, bool) {
	return func(n int64, req codec.KvStateInternalRequest) ([]byte, *codec.JavaException, bool) {
		if n <= stale {
			return nil, codec.NewUnknownKvStateID(codec.ServerName, req.KvStateID), true
		}
		return []byte(value), nil, true
	}
}

// TestForwardRetriesStaleID: the state server first answers
// UnknownKvStateIdException, then the value: the Forwarder retries the
// owner the directory names and succeeds (K4).
func TestForwardRetriesStaleID(t *testing.T) {
	srv := newFakeStateServer(t, staleFirst(1, "value"))
	owner := registry.Owner{ID: fwdID, Addr: srv.addr()}
	dir := &fakeDirectory{owner: owner}
	f := newForwarder(t, ForwarderConfig{Directory: dir, Backoff: time.Millisecond})
	got, err := f.Forward(context.Background(), owner, fwdJob, fwdName, 1, fwdKey)
	if err != nil || string(got) != "value" {
		t.Fatalf("Forward = %q, %v", got, err)
	}
	if n := srv.requests.Load(); n != 2 {
		t.Errorf("state server saw %d requests, want 2", n)
	}
	if n := dir.count(); n != 1 {
		t.Errorf("directory asked %d times, want 1 (before the retry)", n)
	}
	if dir.got[0] != fwdJob.String()+"/state" {
		t.Errorf("directory asked for %s", dir.got[0])
	}
	if s := f.Stats(); s != (ForwarderStats{Requests: 1, Attempts: 2, Retries: 1}) {
		t.Errorf("Stats = %+v", s)
	}
}

// TestForwardRetriesReResolve: the owner the registry named no longer has
// the range (UnknownKvStateKeyGroupLocationException); the directory
// names the new owner, which answers.
func TestForwardRetriesReResolve(t *testing.T) {
	stale := newFakeStateServer(t, func(int64, codec.KvStateInternalRequest) ([]byte, *codec.JavaException, bool) {
		return nil, codec.NewUnknownKvStateKeyGroupLocation(codec.ServerName), true
	})
	newID := registry.KvStateID{0xee, 2}
	fresh := newFakeStateServer(t, func(_ int64, req codec.KvStateInternalRequest) ([]byte, *codec.JavaException, bool) {
		if registry.KvStateID(req.KvStateID) != newID {
			return nil, codec.NewUnknownKvStateID(codec.ServerName, req.KvStateID), true
		}
		return []byte("moved"), nil, true
	})
	dir := &fakeDirectory{owner: registry.Owner{ID: newID, Addr: fresh.addr()}}
	f := newForwarder(t, ForwarderConfig{Directory: dir, Backoff: time.Millisecond})
	got, err := f.Forward(context.Background(), registry.Owner{ID: fwdID, Addr: stale.addr()}, fwdJob, fwdName, 1, fwdKey)
	if err != nil || string(got) != "moved" {
		t.Fatalf("Forward = %q, %v", got, err)
	}
	if a, b := stale.requests.Load(), fresh.requests.Load(); a != 1 || b != 1 {
		t.Errorf("stale owner saw %d requests, new owner %d; want 1 and 1", a, b)
	}
}

// TestForwardDeadOwnerBounded: an owner nobody listens for is tried
// exactly MaxAttempts times (dials counted), with backoff, then the call
// fails with a ForwardError that says so (K4).
func TestForwardDeadOwnerBounded(t *testing.T) {
	var dials atomic.Int64
	dead := registry.Owner{ID: fwdID, Addr: deadAddr(t)}
	dir := &fakeDirectory{owner: dead}
	const attempts, backoff = 5, 4 * time.Millisecond
	f := newForwarder(t, ForwarderConfig{Client: countingClient(t, &dials), Directory: dir,
		MaxAttempts: attempts, Backoff: backoff, MaxBackoff: 20 * time.Millisecond})
	start := time.Now()
	got, err := f.Forward(context.Background(), dead, fwdJob, fwdName, 1, fwdKey)
	elapsed := time.Since(start)
	if err == nil {
		t.Fatalf("Forward to a dead owner = %q", got)
	}
	if n := dials.Load(); n != attempts {
		t.Errorf("%d dials, want %d", n, attempts)
	}
	if n := dir.count(); n != attempts-1 {
		t.Errorf("directory asked %d times, want %d", n, attempts-1)
	}
	var fe *ForwardError
	if !errors.As(err, &fe) || fe.Attempts != attempts || fe.Owner != dead {
		t.Fatalf("error %v (%T), want a ForwardError after %d attempts", err, err, attempts)
	}
	if !errors.Is(err, ErrGaveUp) || !errors.Is(err, client.ErrConnect) {
		t.Errorf("error %v: want ErrGaveUp and client.ErrConnect", err)
	}
	// Pauses of at least backoff/2, backoff, 2*backoff, 2.5*backoff (jitter takes up to half).
	if min := (backoff/2 + backoff + 2*backoff + 5*backoff/2); elapsed < min {
		t.Errorf("gave up after %v: backoff pauses should take at least %v", elapsed, min)
	}
	for _, want := range []string{"gave up", "5 attempts", dead.Addr, dead.ID.String(), "connect failed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// What a proxy relays: a RuntimeException that says the same.
	var je *codec.JavaException
	if !errors.As(err, &je) || je.Class != "java.lang.RuntimeException" ||
		!strings.Contains(je.Message, "gave up after 5 attempts") || !strings.Contains(je.Message, dead.Addr) {
		t.Errorf("as a Java exception: %+v", je)
	}
	if s := f.Stats(); s != (ForwarderStats{Requests: 1, Attempts: attempts, Retries: attempts - 1, GaveUp: 1}) {
		t.Errorf("Stats = %+v", s)
	}
}

// TestForwardGivesUpOnStaleAnswers: a peer that keeps saying
// UnknownKvStateIdException is given up on after MaxAttempts; the Java
// exception relayed carries the peer's as its cause.
func TestForwardGivesUpOnStaleAnswers(t *testing.T) {
	srv := newFakeStateServer(t, func(_ int64, req codec.KvStateInternalRequest) ([]byte, *codec.JavaException, bool) {
		return nil, codec.NewUnknownKvStateID(codec.ServerName, req.KvStateID), true
	})
	owner := registry.Owner{ID: fwdID, Addr: srv.addr()}
	f := newForwarder(t, ForwarderConfig{MaxAttempts: 3, Backoff: time.Millisecond}) // no directory: same owner
	_, err := f.Forward(context.Background(), owner, fwdJob, fwdName, 1, fwdKey)
	if n := srv.requests.Load(); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	if !errors.Is(err, ErrGaveUp) || !errors.Is(err, codec.ErrUnknownKvStateID) {
		t.Fatalf("error %v: want ErrGaveUp and codec.ErrUnknownKvStateID", err)
	}
	var je *codec.JavaException
	if !errors.As(err, &je) || je.Cause == nil || !je.Cause.Is(codec.ErrUnknownKvStateID) {
		t.Errorf("as a Java exception: %+v, want one caused by UnknownKvStateIdException", je)
	}
}

// TestForwardRelaysOtherFailures: failures that are not a stale location
// are returned at once, as the peer sent them (K4).
func TestForwardRelaysOtherFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		exc  *codec.JavaException
		is   error
	}{
		{"missing key", codec.NewUnknownKeyOrNamespace(codec.ServerName), codec.ErrUnknownKeyOrNamespace},
		{"processing error", codec.NewRuntimeException("Error while processing request with ID 0.", nil), client.ErrRequestFailed},
		{"bad request", codec.NewBadRequest(codec.ServerName, "nope"), codec.ErrBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeStateServer(t, func(int64, codec.KvStateInternalRequest) ([]byte, *codec.JavaException, bool) {
				return nil, tc.exc, true
			})
			dir := &fakeDirectory{err: errNoAnswer}
			f := newForwarder(t, ForwarderConfig{Directory: dir})
			_, err := f.Forward(context.Background(), registry.Owner{ID: fwdID, Addr: srv.addr()}, fwdJob, fwdName, 1, fwdKey)
			var re *client.RequestError
			if !errors.As(err, &re) || !errors.Is(err, tc.is) || errors.Is(err, ErrGaveUp) {
				t.Fatalf("error %v (%T): want the peer's %s as a client.RequestError", err, err, tc.exc.Class)
			}
			if re.Exception.Class != tc.exc.Class || re.Exception.Message != tc.exc.Message {
				t.Errorf("relayed %+v, want %+v", re.Exception, tc.exc)
			}
			if n, d := srv.requests.Load(), dir.count(); n != 1 || d != 0 {
				t.Errorf("%d requests and %d directory calls, want 1 and 0", n, d)
			}
		})
	}
}

// TestForwardTimeout: a peer that never answers costs the caller Timeout,
// not forever.
func TestForwardTimeout(t *testing.T) {
	srv := newFakeStateServer(t, func(int64, codec.KvStateInternalRequest) ([]byte, *codec.JavaException, bool) {
		return nil, nil, false
	})
	const timeout = 100 * time.Millisecond
	f := newForwarder(t, ForwarderConfig{Timeout: timeout})
	start := time.Now()
	_, err := f.Forward(context.Background(), registry.Owner{ID: fwdID, Addr: srv.addr()}, fwdJob, fwdName, 1, fwdKey)
	elapsed := time.Since(start)
	var fe *ForwardError
	if !errors.As(err, &fe) || fe.Attempts != 1 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v: want a ForwardError after 1 attempt, deadline exceeded", err)
	}
	if elapsed < timeout || elapsed > timeout+2*time.Second {
		t.Errorf("gave up after %v, want about %v", elapsed, timeout)
	}
	if !strings.Contains(err.Error(), "deadline exceeded") {
		t.Errorf("error %q does not say the deadline passed", err)
	}
}

// TestForwardHonoursRequestDeadline: the caller's deadline (the request's,
// from the handler) bounds a call, however long Timeout is: a peer that
// never answers costs the request its deadline, never more.
func TestForwardHonoursRequestDeadline(t *testing.T) {
	srv := newFakeStateServer(t, func(int64, codec.KvStateInternalRequest) ([]byte, *codec.JavaException, bool) {
		return nil, nil, false
	})
	f := newForwarder(t, ForwarderConfig{Timeout: time.Hour})
	const deadline = 100 * time.Millisecond
	start := time.Now() // before the deadline is set, so elapsed cannot come out below it
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	_, err := f.Forward(ctx, registry.Owner{ID: fwdID, Addr: srv.addr()}, fwdJob, fwdName, 1, fwdKey)
	elapsed := time.Since(start)
	if !errors.Is(err, ErrGaveUp) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v: want a ForwardError, deadline exceeded", err)
	}
	if elapsed < deadline || elapsed > deadline+2*time.Second {
		t.Errorf("gave up after %v, want about the request's deadline %v (Timeout is an hour)", elapsed, deadline)
	}
}

// TestForwardNoTimeForBackoff: when the pause before a retry would pass
// the deadline, the Forwarder gives up at once instead of sleeping.
func TestForwardNoTimeForBackoff(t *testing.T) {
	dead := registry.Owner{ID: fwdID, Addr: deadAddr(t)}
	f := newForwarder(t, ForwarderConfig{Backoff: time.Hour, MaxBackoff: time.Hour, Timeout: time.Minute})
	start := time.Now()
	_, err := f.Forward(context.Background(), dead, fwdJob, fwdName, 1, fwdKey)
	var fe *ForwardError
	if !errors.As(err, &fe) || fe.Attempts != 1 {
		t.Fatalf("error %v: want a ForwardError after 1 attempt", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
}

// TestForwardDirectoryErrors: a directory that knows no owner ends the
// retries; one that fails transiently leaves the previous owner in place.
func TestForwardDirectoryErrors(t *testing.T) {
	srv := newFakeStateServer(t, staleFirst(2, "v"))
	owner := registry.Owner{ID: fwdID, Addr: srv.addr()}

	dir := &fakeDirectory{err: ErrNoOwner}
	f := newForwarder(t, ForwarderConfig{Directory: dir, Backoff: time.Millisecond})
	_, err := f.Forward(context.Background(), owner, fwdJob, fwdName, 1, fwdKey)
	if !errors.Is(err, ErrGaveUp) || !errors.Is(err, ErrNoOwner) {
		t.Fatalf("error %v: want ErrGaveUp and ErrNoOwner", err)
	}
	if n := srv.requests.Load(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}

	dir = &fakeDirectory{err: errNoAnswer}
	f = newForwarder(t, ForwarderConfig{Directory: dir, Backoff: time.Millisecond})
	got, err := f.Forward(context.Background(), owner, fwdJob, fwdName, 1, fwdKey)
	if err != nil || string(got) != "v" {
		t.Fatalf("Forward = %q, %v", got, err)
	}
	if n := srv.requests.Load(); n != 3 {
		t.Errorf("%d requests in all, want 3", n)
	}
}

// TestForwardClose: Close ends a call waiting in a backoff, and later calls.
func TestForwardClose(t *testing.T) {
	dead := registry.Owner{ID: fwdID, Addr: deadAddr(t)}
	f := newForwarder(t, ForwarderConfig{Backoff: time.Minute, MaxBackoff: time.Minute, Timeout: time.Hour})
	errc := make(chan error, 1)
	go func() {
		_, err := f.Forward(context.Background(), dead, fwdJob, fwdName, 1, fwdKey)
		errc <- err
	}()
	// Wait until the first attempt failed (the call is then in its pause).
	qstatetest.Eventually(t, qstatetest.Timeout, func() bool { return f.Stats().Attempts > 0 }, "the first attempt to fail")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := qstatetest.Recv(t, errc, qstatetest.Timeout, "Close to end the call"); !errors.Is(err, ErrClosed) && !errors.Is(err, client.ErrClosed) {
		t.Errorf("error %v, want ErrClosed", err)
	}
	if _, err := f.Forward(context.Background(), dead, fwdJob, fwdName, 1, fwdKey); !errors.Is(err, ErrClosed) {
		t.Errorf("Forward after Close: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestBackoffGrows(t *testing.T) {
	f := newForwarder(t, ForwarderConfig{Backoff: 8 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	for n, want := range map[int]time.Duration{1: 8, 2: 16, 3: 32, 4: 50, 10: 50, 100: 50} {
		want *= time.Millisecond
		for range 100 {
			if d := f.backoff(n); d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", n, d, want/2, want)
			}
		}
	}
}

func TestRetryable(t *testing.T) {
	rq := func(e *codec.JavaException) error { return &client.RequestError{Addr: "x", Exception: e} }
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{rq(codec.NewUnknownKvStateID(codec.ServerName, [16]byte{})), true},
		{rq(codec.NewUnknownKvStateKeyGroupLocation(codec.ServerName)), true},
		{rq(codec.NewUnknownKeyOrNamespace(codec.ServerName)), false},
		// Only the class the peer sent counts, not a cause (as in Flink).
		{rq(codec.NewFailedRequest(1, codec.NewUnknownKvStateID(codec.ServerName, [16]byte{}))), false},
		{errors.Join(client.ErrConnect, errors.New("refused")), true},
		{errors.Join(client.ErrBroken, errors.New("EOF")), true},
		{client.ErrServerFailure, false},
		{client.ErrTooManyInFlight, false},
		{context.DeadlineExceeded, false},
	} {
		if got := Retryable(tc.err); got != tc.want {
			t.Errorf("Retryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestForwarderConfigValidate(t *testing.T) {
	if err := (ForwarderConfig{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
	if err := (ForwarderConfig{Backoff: 2 * time.Second}).Validate(); err != nil {
		t.Errorf("Backoff above the default MaxBackoff: %v", err)
	}
	err := ForwarderConfig{MaxAttempts: -1, Backoff: -time.Second, MaxBackoff: time.Millisecond, Timeout: -1}.Validate()
	for _, want := range []string{"MaxAttempts -1", "Backoff -1s", "Timeout -1ns"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want a problem %q", err, want)
		}
	}
	if !errors.Is(err, ErrConfig) {
		t.Errorf("error %v does not wrap ErrConfig", err)
	}
	if err := (ForwarderConfig{MaxAttempts: 101}).Validate(); err == nil {
		t.Error("MaxAttempts 101 accepted")
	}
	if err := (ForwarderConfig{Backoff: time.Second, MaxBackoff: time.Millisecond}).Validate(); err == nil {
		t.Error("MaxBackoff < Backoff accepted")
	}
	if _, err := NewForwarder(ForwarderConfig{MaxAttempts: -1}); !errors.Is(err, ErrConfig) {
		t.Errorf("NewForwarder: %v", err)
	}
}

// The Forwarder is the handler's.
var _ handler.Forwarder = (*Forwarder)(nil)
