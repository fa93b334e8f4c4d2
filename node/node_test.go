package node

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/qstate/qstate/client"
	"github.com/qstate/qstate/cluster"
	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/handler"
	"github.com/qstate/qstate/internal/qstatetest"
	"github.com/qstate/qstate/internal/servertest"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/server"
	"github.com/qstate/qstate/state"
)

// TestMain fails the package when a test leaves a goroutine behind: a
// node's Shutdown must stop everything it started (N3). ants' default
// pool, started by its package init, is not ours.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"))
}

const (
	testKeys      = 100
	testValueSize = 8
)

var syntheticJob, _ = registry.ParseJobID(dataset.SyntheticJobID)

// syntheticRegistry returns a registry holding the synthetic dataset.
func syntheticRegistry(t testing.TB) *registry.Registry {
	t.Helper()
	reg := registry.New()
	if err := dataset.RegisterSynthetic(reg, testKeys, testValueSize); err != nil {
		t.Fatal(err)
	}
	return reg
}

// startNode starts a node on free loopback ports and shuts it down at
// cleanup (a second Shutdown there is harmless: ErrNodeClosed).
func startNode(t testing.TB, reg *registry.Registry, cfg Config) *Node {
	t.Helper()
	n, err := New(reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), qstatetest.Timeout)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil && !errors.Is(err, ErrNodeClosed) {
			t.Errorf("Shutdown at cleanup: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), qstatetest.Timeout)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return n
}

func queryCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), qstatetest.Timeout)
	t.Cleanup(cancel)
	return ctx
}

// TestValidateNamesFields: every problem is reported at once, wrapping
// ErrConfig and naming its field (N1); the zero Config is valid.
func TestValidateNamesFields(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero Config: %v", err)
	}
	bad := Config{
		ProxyAddr:       "no-port",
		StateAddr:       "127.0.0.1:99999",
		Server:          server.Config{Addr: "127.0.0.1:1", Name: "x", MaxFrameLen: 3, LowWatermark: 10, HighWatermark: 5},
		Dispatch:        handler.Inline,
		PoolSize:        -1,
		RequestTimeout:  -time.Second,
		Directory:       noDirectory{},
		Forwarder:       fakeForwarder{},
		ForwardAttempts: 1000,
		ShutdownTimeout: -1,
	}
	err := bad.Validate()
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("error %v does not wrap ErrConfig", err)
	}
	for _, field := range []string{"ProxyAddr", "StateAddr", "Server.Addr", "Server.Name", "MaxFrameLen", "LowWatermark",
		"PoolSize", "RequestTimeout", "Inline", "Forwarder", "ForwardAttempts", "ShutdownTimeout"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error does not name %s:\n%v", field, err)
		}
	}
	if _, err := New(registry.New(), bad); !errors.Is(err, ErrConfig) {
		t.Errorf("New with a bad Config: %v", err)
	}
	if _, err := New(nil, Config{}); !errors.Is(err, ErrConfig) {
		t.Errorf("New with a nil registry: %v", err)
	}
}

// TestServesBothPorts: a started node answers over TCP on both ports from
// its registry: a value through the proxy (location, key group, owner), the
// same through the state-server port by KvStateID, and Flink's failures
// for a missing key and an unknown state (N2).
func TestServesBothPorts(t *testing.T) {
	reg := syntheticRegistry(t)
	n := startNode(t, reg, Config{})
	proxy, stateAddr := n.Addrs()
	if proxy == nil || stateAddr == nil || proxy.Port == stateAddr.Port {
		t.Fatalf("Addrs = %v, %v", proxy, stateAddr)
	}
	select {
	case <-n.Ready():
	default:
		t.Fatal("Ready not closed after Start")
	}
	c := servertest.NewClient(t)
	ctx := queryCtx(t)
	for _, k := range []int32{0, 7, testKeys - 1} {
		got, err := client.GetValue(ctx, c, proxy.String(), syntheticJob, dataset.SyntheticState, state.Int, k, state.Bytes)
		if want := dataset.SyntheticValue(nil, int(k), testValueSize); err != nil || !bytes.Equal(got, want) {
			t.Errorf("proxy key %d = %x, %v; want %x", k, got, err, want)
		}
	}
	id, _ := dataset.SyntheticKvStateID(reg)
	kn := state.AppendKeyAndNamespace(nil, state.Int, int32(7), state.Void, state.VoidNamespace{})
	content, err := c.GetKvStateInternal(ctx, stateAddr.String(), id, kn)
	if want := state.Bytes.Append(nil, dataset.SyntheticValue(nil, 7, testValueSize)); err != nil || !bytes.Equal(content, want) {
		t.Errorf("state port key 7 = %x, %v; want %x", content, err, want)
	}
	if _, err := client.GetValue(ctx, c, proxy.String(), syntheticJob, dataset.SyntheticState, state.Int, int32(testKeys), state.Bytes); !errors.Is(err, codec.ErrUnknownKeyOrNamespace) {
		t.Errorf("missing key: %v, want UnknownKeyOrNamespaceException", err)
	}
	if _, err := client.GetValue(ctx, c, proxy.String(), syntheticJob, "nope", state.Int, int32(1), state.Bytes); !errors.Is(err, codec.ErrUnknownLocation) {
		t.Errorf("unknown state: %v, want UnknownLocationException", err)
	}
	h := n.Handler()
	if st := h.Proxy().Stats(); st.Requests != 5 || st.Successful != 3 {
		t.Errorf("proxy endpoint stats %+v, want 5 requests, 3 successful", st)
	}
	if p, s := n.Servers(); p.Addr().Port != proxy.Port || s.Addr().Port != stateAddr.Port {
		t.Error("Servers do not match Addrs")
	}
}

// TestShutdownAnswersInFlight: Shutdown lets a request already dispatched
// be answered and written before it returns, refuses new connections
// meanwhile, and afterwards Start, Serve and Shutdown say ErrNodeClosed (N3).
func TestShutdownAnswersInFlight(t *testing.T) {
	reg := registry.New()
	bs := qstatetest.NewBlockingState([]byte{0, 0, 0, 1, 42}, 1)
	all := registry.KeyGroupRange{Start: 0, End: registry.DefaultMaxParallelism - 1}
	if _, err := reg.Register(syntheticJob, "slow", all, registry.DefaultMaxParallelism, bs); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, reg, Config{})
	proxy, _ := n.Addrs()

	c := servertest.NewClient(t)
	type answer struct {
		v   []byte
		err error
	}
	answered := make(chan answer, 1)
	go func() {
		v, err := c.GetKvState(queryCtx(t), proxy.String(), syntheticJob, "slow", 1, []byte{0, 0, 0, 1, 0x2a, 0})
		answered <- answer{v, err}
	}()
	qstatetest.Recv(t, bs.Entered, qstatetest.Timeout, "the request to reach the state")

	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), qstatetest.Timeout)
		defer cancel()
		stopped <- n.Shutdown(ctx)
	}()
	// While the request is in flight, the node stops accepting: a new
	// connection is closed without an answer.
	qstatetest.Eventually(t, qstatetest.Timeout, func() bool {
		nc, err := net.Dial("tcp", proxy.String())
		if err != nil {
			return true // not listening any more
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(50 * time.Millisecond))
		_, err = nc.Read(make([]byte, 1))
		var ne net.Error
		return err != nil && !(errors.As(err, &ne) && ne.Timeout()) // closed by the node, not still open
	}, "new connections to be refused while shutting down")
	select {
	case err := <-stopped:
		t.Fatalf("Shutdown returned (%v) before the request in flight was answered", err)
	default:
	}
	bs.Release()
	a := qstatetest.Recv(t, answered, qstatetest.Timeout, "the answer to the request in flight")
	if a.err != nil || !bytes.Equal(a.v, []byte{0, 0, 0, 1, 42}) {
		t.Errorf("request in flight = %x, %v; want its value", a.v, a.err)
	}
	if err := qstatetest.Recv(t, stopped, qstatetest.Timeout, "Shutdown to return"); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if n.Handler().PoolStats(); n.Handler().PoolWaiting() != 0 {
		t.Error("callers still waiting on the pool")
	}
	ctx := queryCtx(t)
	if err := n.Shutdown(ctx); !errors.Is(err, ErrNodeClosed) {
		t.Errorf("second Shutdown: %v, want ErrNodeClosed", err)
	}
	if err := n.Start(ctx); !errors.Is(err, ErrNodeClosed) {
		t.Errorf("Start after Shutdown: %v, want ErrNodeClosed", err)
	}
	if err := n.Serve(ctx); !errors.Is(err, ErrNodeClosed) {
		t.Errorf("Serve after Shutdown: %v, want ErrNodeClosed", err)
	}
}

// TestLifecycleErrors: a node starts once; one that never started shuts
// down (releasing its pool) and cannot start after (N3).
func TestLifecycleErrors(t *testing.T) {
	n := startNode(t, syntheticRegistry(t), Config{})
	if err := n.Start(queryCtx(t)); !errors.Is(err, ErrNodeClosed) {
		t.Errorf("second Start: %v, want ErrNodeClosed", err)
	}

	idle, err := New(syntheticRegistry(t), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := idle.Shutdown(queryCtx(t)); err != nil {
		t.Errorf("Shutdown of a node never started: %v", err)
	}
	if err := idle.Start(queryCtx(t)); !errors.Is(err, ErrNodeClosed) {
		t.Errorf("Start after Shutdown: %v, want ErrNodeClosed", err)
	}
	if p, s := idle.Addrs(); p != nil || s != nil {
		t.Errorf("Addrs of a node that never listened: %v, %v", p, s)
	}
}

// TestStartPortInUse: a port that cannot bind fails Start with the
// server's error; the other port is stopped and the node shut down (N4).
func TestStartPortInUse(t *testing.T) {
	busy := qstatetest.BusyAddr(t)
	n, err := New(syntheticRegistry(t), Config{StateAddr: busy})
	if err != nil {
		t.Fatal(err)
	}
	err = n.Start(queryCtx(t))
	if !errors.Is(err, server.ErrPortsInUse) {
		t.Fatalf("Start on a busy port: %v, want ErrPortsInUse", err)
	}
	if !strings.Contains(err.Error(), busy) {
		t.Errorf("error %q does not name the busy address", err)
	}
	select {
	case <-n.Ready():
	default:
		t.Error("Ready not closed after a failed start")
	}
	if p, _ := n.Servers(); p.Addr() != nil {
		if nc, err := net.Dial("tcp", p.Addr().String()); err == nil {
			nc.Close()
			t.Error("the proxy port still accepts after the failed start")
		}
	}
	if err := n.Shutdown(queryCtx(t)); !errors.Is(err, ErrNodeClosed) {
		t.Errorf("Shutdown after a failed start: %v, want ErrNodeClosed (Start shut it down)", err)
	}
}

// serveNode runs Serve(ctx) of a node with the default Config over the
// synthetic registry on a goroutine of its own, and returns once the node
// listens, with the channel that receives what Serve returns.
func serveNode(t *testing.T, ctx context.Context) (*Node, <-chan error) {
	t.Helper()
	n, err := New(syntheticRegistry(t), Config{})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- n.Serve(ctx) }()
	qstatetest.Recv(t, n.Ready(), qstatetest.Timeout, "the node to listen")
	return n, served
}

// TestServeUntilCancelled: Serve serves until its ctx ends, then shuts the
// node down gracefully and returns nil (N5).
func TestServeUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n, served := serveNode(t, ctx)
	proxy, _ := n.Addrs()
	c := servertest.NewClient(t)
	if _, err := client.GetValue(queryCtx(t), c, proxy.String(), syntheticJob, dataset.SyntheticState, state.Int, int32(3), state.Bytes); err != nil {
		t.Fatalf("query while serving: %v", err)
	}
	cancel()
	if err := qstatetest.Recv(t, served, qstatetest.Timeout, "Serve to return"); err != nil {
		t.Errorf("Serve after its ctx ended: %v, want nil", err)
	}
	if err := n.Shutdown(queryCtx(t)); !errors.Is(err, ErrNodeClosed) {
		t.Errorf("Shutdown after Serve returned: %v, want ErrNodeClosed", err)
	}
}

// TestServeReturnsAfterShutdown: Serve returns ErrNodeClosed when another
// goroutine shuts the node down, as net/http's Serve does.
func TestServeReturnsAfterShutdown(t *testing.T) {
	n, served := serveNode(t, context.Background())
	if err := n.Shutdown(queryCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := qstatetest.Recv(t, served, qstatetest.Timeout, "Serve to return"); !errors.Is(err, ErrNodeClosed) {
		t.Errorf("Serve: %v, want ErrNodeClosed", err)
	}
}

// TestMetricsRegistered: with a Registerer, the node's counters are
// gathered from it, and Shutdown unregisters them (N6).
func TestMetricsRegistered(t *testing.T) {
	promReg := prometheus.NewRegistry()
	n := startNode(t, syntheticRegistry(t), Config{Registerer: promReg})
	proxy, _ := n.Addrs()
	c := servertest.NewClient(t)
	for k := range 3 {
		if _, err := client.GetValue(queryCtx(t), c, proxy.String(), syntheticJob, dataset.SyntheticState, state.Int, int32(k), state.Bytes); err != nil {
			t.Fatal(err)
		}
	}
	count := func() (requests float64, found bool) {
		mfs, err := promReg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "qstate_request_duration_seconds" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "port" && l.GetValue() == "proxy" {
						return float64(m.GetHistogram().GetSampleCount()), true
					}
				}
			}
		}
		return 0, false
	}
	if got, ok := count(); !ok || got != 3 {
		t.Errorf("proxy latency histogram count %v (found %v), want 3", got, ok)
	}
	if err := n.Shutdown(queryCtx(t)); err != nil {
		t.Fatal(err)
	}
	if _, ok := count(); ok {
		t.Error("the node's metrics are still registered after Shutdown")
	}
	// A second node can register in the same registry.
	startNode(t, syntheticRegistry(t), Config{Registerer: promReg})
}

// noDirectory knows no owner (the Forwarder asks it only when a location
// proves stale).
type noDirectory struct{}

func (noDirectory) Owner(context.Context, registry.JobID, string, int32) (registry.Owner, error) {
	return registry.Owner{}, cluster.ErrNoOwner
}

// fakeForwarder answers every forwarded request with its key hash.
type fakeForwarder struct{}

func (fakeForwarder) Forward(_ context.Context, _ registry.Owner, _ registry.JobID, _ []byte, keyHash int32, _ []byte) ([]byte, error) {
	return []byte{0, 0, 0, 4, 0, 0, 0, byte(keyHash)}, nil
}

// TestForwarderAndDirectory: a caller's Forwarder answers key groups other
// nodes own; with a Directory instead, the node's own cluster.Forwarder
// forwards them to the owner's state-server port (here another node), and
// Shutdown closes it.
func TestForwarderAndDirectory(t *testing.T) {
	reg := registry.New()
	all := registry.KeyGroupRange{Start: 0, End: registry.DefaultMaxParallelism - 1}
	if err := reg.RegisterRemote(syntheticJob, "far", all, registry.DefaultMaxParallelism, registry.NewKvStateID(), "127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, reg, Config{Forwarder: fakeForwarder{}})
	proxy, _ := n.Addrs()
	c := servertest.NewClient(t)
	got, err := c.GetKvState(queryCtx(t), proxy.String(), syntheticJob, "far", 9, []byte{0, 0, 0, 9, 0x2a, 0})
	if err != nil || !bytes.Equal(got, []byte{0, 0, 0, 4, 0, 0, 0, 9}) {
		t.Errorf("forwarded through the caller's Forwarder: %x, %v", got, err)
	}

	// Node b holds the synthetic state; node a knows it as b's and forwards.
	regB := syntheticRegistry(t)
	b := startNode(t, regB, Config{})
	_, bState := b.Addrs()
	id, _ := dataset.SyntheticKvStateID(regB)
	regA := registry.New()
	if err := regA.RegisterRemote(syntheticJob, dataset.SyntheticState, all, registry.DefaultMaxParallelism, id, bState.String()); err != nil {
		t.Fatal(err)
	}
	dir := noDirectory{}
	a := startNode(t, regA, Config{Directory: dir, RequestTimeout: 2 * time.Second})
	aProxy, _ := a.Addrs()
	v, err := client.GetValue(queryCtx(t), c, aProxy.String(), syntheticJob, dataset.SyntheticState, state.Int, int32(5), state.Bytes)
	if want := dataset.SyntheticValue(nil, 5, testValueSize); err != nil || !bytes.Equal(v, want) {
		t.Errorf("forwarded through the node's Forwarder: %x, %v; want %x", v, err, want)
	}
	if a.fwd == nil {
		t.Fatal("no Forwarder made from Directory")
	}
	if err := a.Shutdown(queryCtx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.fwd.Forward(queryCtx(t), registry.Owner{ID: id, Addr: bState.String()}, syntheticJob, []byte(dataset.SyntheticState), 5, nil); !errors.Is(err, cluster.ErrClosed) {
		t.Errorf("the node's Forwarder after Shutdown: %v, want cluster.ErrClosed", err)
	}
}

// TestDeadOwnerCostsTheDeadline: a node whose peer accepts forwarded
// requests and never answers answers its client with a failure at the
// request's deadline (RequestTimeout), over TCP, however long the
// Forwarder's own timeout.
func TestDeadOwnerCostsTheDeadline(t *testing.T) {
	silent := qstatetest.NewServer(t, func(_ int, c *qstatetest.Conn) { c.Drain() })
	reg := registry.New()
	all := registry.KeyGroupRange{Start: 0, End: registry.DefaultMaxParallelism - 1}
	if err := reg.RegisterRemote(syntheticJob, "far", all, registry.DefaultMaxParallelism, registry.NewKvStateID(), silent.Addr()); err != nil {
		t.Fatal(err)
	}
	const deadline = 200 * time.Millisecond
	n := startNode(t, reg, Config{Directory: noDirectory{}, RequestTimeout: deadline})
	proxy, _ := n.Addrs()
	c := servertest.NewClient(t)
	start := time.Now()
	_, err := c.GetKvState(queryCtx(t), proxy.String(), syntheticJob, "far", 1, []byte{0, 0, 0, 1, 0x2a, 0})
	took := time.Since(start)
	var re *client.RequestError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "gave up") || !strings.Contains(err.Error(), silent.Addr()) {
		t.Fatalf("error %v: want the proxy's failure naming %s", err, silent.Addr())
	}
	if took < deadline || took > deadline+2*time.Second {
		t.Errorf("answered after %v, want about the request's deadline %v", took, deadline)
	}
}
