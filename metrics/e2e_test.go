package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/qstate/qstate/client"
	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/handler"
	"github.com/qstate/qstate/internal/qstatetest"
	"github.com/qstate/qstate/internal/servertest"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/server"
	"github.com/qstate/qstate/state"
)

// node is a qstate node in process, with its metrics served over HTTP.
type node struct {
	reg          *registry.Registry
	h            *handler.Handler
	proxy, state *server.Server
	m            *Metrics
	url          string           // the admin server's base URL
	conns        servertest.Conns // both servers' connection states
}

// startNode starts a handler over the synthetic dataset (keys 0..keys-1),
// its two servers and the admin HTTP server, all on 127.0.0.1:0, and
// stops them at cleanup.
func startNode(t testing.TB, keys int) *node {
	t.Helper()
	n := &node{reg: registry.New()}
	if err := dataset.RegisterSynthetic(n.reg, keys, 8); err != nil {
		t.Fatal(err)
	}
	n.m = newMetrics(t, Config{})
	h, err := handler.New(handler.Config{Registry: n.reg, Observer: n.m})
	if err != nil {
		t.Fatal(err)
	}
	n.h = h
	qstatetest.CloseAtCleanup(t, "handler", h) // after the servers' cleanups: they stop first
	n.proxy, _ = servertest.Start(t, n.conns.Watch(server.Config{Name: "proxy", EventLoops: 2}), h.Proxy())
	n.state, _ = servertest.Start(t, n.conns.Watch(server.Config{Name: "state", EventLoops: 2}), h.StateServer())
	n.m.WatchServer("proxy", n.proxy)
	n.m.WatchServer("state", n.state)
	n.m.WatchEndpoint(h.Proxy())
	n.m.WatchEndpoint(h.StateServer())
	n.m.WatchPool(h)
	admin := httptest.NewServer(n.m.Handler())
	n.url = admin.URL
	t.Cleanup(admin.Close) // runs first
	return n
}

// waitClosed waits until every connection opened on either port so far
// has closed.
func (n *node) waitClosed(t testing.TB) {
	t.Helper()
	n.conns.WaitClosed(t)
}

func intKey(k int32) []byte {
	return state.AppendKeyAndNamespace(nil, state.Int, k, state.Void, state.VoidNamespace{})
}

// TestEndToEndCounts (M2, M3): a known workload through the Go client over
// TCP, on both ports, then a scrape of /metrics over HTTP: every counter
// has the workload's exact value, and each port's latency histogram
// counts its requests. /debug/pprof/ answers on the same port.
func TestEndToEndCounts(t *testing.T) {
	const keys = 100
	n := startNode(t, keys)
	cl, err := client.New(client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), qstatetest.Timeout)
	defer cancel()
	job, _ := client.ParseJobID(dataset.SyntheticJobID)
	kvID, _ := dataset.SyntheticKvStateID(n.reg)
	proxy, stateAddr := n.proxy.Addr().String(), n.state.Addr().String()

	// The workload, and what each call must return.
	want := map[string]map[handler.Result]int{"proxy": {}, "state": {}}
	check := func(port string, res handler.Result, err error, is error) {
		t.Helper()
		switch {
		case is == nil && err != nil:
			t.Fatalf("%s: %v", port, err)
		case is != nil && !errors.Is(err, is):
			t.Fatalf("%s: %v, want %v", port, err, is)
		}
		want[port][res]++
	}
	for k := range int32(keys) { // 100 found keys
		_, err := cl.GetKvState(ctx, proxy, job, dataset.SyntheticState, k, intKey(k))
		check("proxy", handler.ResultOK, err, nil)
	}
	for k := range int32(7) { // 7 missing keys
		_, err := cl.GetKvState(ctx, proxy, job, dataset.SyntheticState, keys+k, intKey(keys+k))
		check("proxy", handler.ResultMissingKey, err, codec.ErrUnknownKeyOrNamespace)
	}
	for range 3 { // 3 unknown states
		_, err := cl.GetKvState(ctx, proxy, job, "no-such-state", 1, intKey(1))
		check("proxy", handler.ResultUnknownState, err, codec.ErrUnknownLocation)
	}
	for k := range int32(20) { // 20 found keys on the state-server port
		_, err := cl.GetKvStateInternal(ctx, stateAddr, kvID, intKey(k))
		check("state", handler.ResultOK, err, nil)
	}
	for k := range int32(4) { // 4 missing keys there
		_, err := cl.GetKvStateInternal(ctx, stateAddr, kvID, intKey(keys+k))
		check("state", handler.ResultMissingKey, err, codec.ErrUnknownKeyOrNamespace)
	}
	for range 2 { // 2 unknown KvStateIDs
		_, err := cl.GetKvStateInternal(ctx, stateAddr, registry.NewKvStateID(), intKey(1))
		check("state", handler.ResultUnknownState, err, codec.ErrUnknownKvStateID)
	}
	// One request whose body does not decode, on a connection of its own.
	c := qstatetest.Dial(t, proxy)
	bad := codec.AppendHeader(nil, codec.Request, 1, 3)
	bad = append(bad, 1, 2, 3)
	if _, err := c.Write(bad); err != nil {
		t.Fatal(err)
	}
	var pre [4]byte
	if _, err := io.ReadFull(c, pre[:]); err != nil {
		t.Fatal(err)
	}
	want["proxy"][handler.ResultBadRequest]++
	c.Close()
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	n.waitClosed(t)

	f := scrape(t, n.url+"/metrics")
	conns := map[string]float64{"proxy": 2, "state": 1} // the client's one per port, and the raw one
	for port, byResult := range want {
		total := 0
		for r := range handler.NumResults {
			res := r.String()
			if got := f.value(t, "qstate_requests_total", "port", port, "result", res); got != float64(byResult[r]) {
				t.Errorf("qstate_requests_total{port=%q,result=%q} = %v, want %d", port, res, got, byResult[r])
			}
			total += byResult[r]
		}
		h := f.histogram(t, "qstate_request_duration_seconds", "port", port)
		if h.GetSampleCount() != uint64(total) {
			t.Errorf("%s: latency histogram counts %d, want %d requests", port, h.GetSampleCount(), total)
		}
		if inf := h.GetBucket()[len(h.GetBucket())-1]; inf.GetCumulativeCount() > h.GetSampleCount() {
			t.Errorf("%s: bucket le=%v holds %d > count", port, inf.GetUpperBound(), inf.GetCumulativeCount())
		}
		if h.GetSampleSum() <= 0 {
			t.Errorf("%s: latency sum %v", port, h.GetSampleSum())
		}
		if got := f.value(t, "qstate_connections_accepted_total", "port", port); got != conns[port] {
			t.Errorf("%s: accepted %v, want %v", port, got, conns[port])
		}
		if got := f.value(t, "qstate_connections_open", "port", port); got != 0 {
			t.Errorf("%s: open %v, want 0", port, got)
		}
		for r := range len(server.Stats{}.Closed) {
			reason := server.CloseReason(r)
			wantClosed := 0.0
			if reason == server.ClosePeer {
				wantClosed = conns[port]
			}
			if got := f.value(t, "qstate_connections_closed_total", "port", port, "reason", reason.String()); got != wantClosed {
				t.Errorf("%s: closed{reason=%s} = %v, want %v", port, reason, got, wantClosed)
			}
		}
		for _, zero := range []string{"qstate_connections_refused_total", "qstate_slow_consumer_disconnects_total",
			"qstate_batches_in_flight", "qstate_connections_backpressured", "qstate_connections_pending_writes"} {
			if got := f.value(t, zero, "port", port); got != 0 {
				t.Errorf("%s: %s = %v, want 0", port, zero, got)
			}
		}
		if got := f.value(t, "qstate_batches_total", "port", port); got < 1 || got > float64(total) {
			t.Errorf("%s: %v batches for %d requests", port, got, total)
		}
		if f.value(t, "qstate_bytes_received_total", "port", port) == 0 || f.value(t, "qstate_bytes_sent_total", "port", port) == 0 {
			t.Errorf("%s: no bytes counted", port)
		}
	}
	if got := f.value(t, "qstate_pool_workers"); got != handler.DefaultPoolSize {
		t.Errorf("pool workers %v, want %d", got, handler.DefaultPoolSize)
	}
	if got := f.value(t, "qstate_pool_waiting"); got != 0 {
		t.Errorf("pool waiting %v", got)
	}
	if f["go_goroutines"] == nil || f["process_resident_memory_bytes"] == nil {
		t.Error("runtime metrics missing")
	}

	resp, err := http.Get(n.url + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine") {
		t.Fatalf("/debug/pprof/: %s", resp.Status)
	}
}

// TestEndToEndBytes: qstate_bytes_received_total and _sent_total equal
// the bytes a raw client wrote and read on its socket.
func TestEndToEndBytes(t *testing.T) {
	n := startNode(t, 50)
	job, _ := registry.ParseJobID(dataset.SyntheticJobID)
	var out []byte
	const reqs = 60 // 50 found, 10 missing
	for k := range int32(reqs) {
		out = codec.AppendKvStateRequestFrame(out, int64(k), codec.KvStateRequest{
			JobID: job, StateName: []byte(dataset.SyntheticState), KeyHash: k, KeyAndNamespace: intKey(k),
		})
	}
	c := qstatetest.Dial(t, n.proxy.Addr().String())
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	read := 0
	buf := make([]byte, 0, 64<<10)
	for frames := 0; frames < reqs; {
		k, err := c.Read(buf[len(buf):cap(buf)])
		if err != nil {
			t.Fatal(err)
		}
		buf = buf[:len(buf)+k]
		read += k
		for {
			_, size, err := codec.DecodeFrame(buf, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if size == 0 {
				break
			}
			buf = buf[:copy(buf, buf[size:])]
			frames++
		}
	}
	c.Close()
	n.waitClosed(t)
	f := scrape(t, n.url+"/metrics")
	if got := f.value(t, "qstate_bytes_received_total", "port", "proxy"); got != float64(len(out)) {
		t.Errorf("bytes received %v, client wrote %d", got, len(out))
	}
	if got := f.value(t, "qstate_bytes_sent_total", "port", "proxy"); got != float64(read) {
		t.Errorf("bytes sent %v, client read %d", got, read)
	}
	if got := f.value(t, "qstate_requests_total", "port", "proxy", "result", "ok"); got != 50 {
		t.Errorf("ok %v, want 50", got)
	}
	if got := f.value(t, "qstate_requests_total", "port", "proxy", "result", "missing_key"); got != 10 {
		t.Errorf("missing %v, want 10", got)
	}
}
