package metrics

import (
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/qstate/qstate/handler"
	"github.com/qstate/qstate/server"
)

type fakeServer struct{ st server.Stats }

func (f *fakeServer) Stats() server.Stats { return f.st }

type fakeEndpoint struct {
	port handler.Port
	st   handler.Stats
}

func (f *fakeEndpoint) Port() handler.Port   { return f.port }
func (f *fakeEndpoint) Stats() handler.Stats { return f.st }

type fakePool struct{ running, capacity int }

func (f *fakePool) PoolStats() (int, int) { return f.running, f.capacity }

type fakeWaitingPool struct {
	fakePool
	waiting int
}

func (f *fakeWaitingPool) PoolWaiting() int { return f.waiting }

func newMetrics(t testing.TB, cfg Config) *Metrics {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestCollectMapsStats (M2): every series shows the Stats field it comes
// from, under the right port label. Each field has a distinct value, so a
// series wired to the wrong field fails.
func TestCollectMapsStats(t *testing.T) {
	m := newMetrics(t, Config{NoRuntime: true})
	var closed [len(server.Stats{}.Closed)]int64
	for i := range closed {
		closed[i] = int64(1000 + i)
	}
	proxy := &fakeServer{server.Stats{
		Conns: 3, Accepted: 17, Requests: 101, Batches: 19, InFlight: 2,
		Pending: 5, Backpressured: 4, BackpressureStarts: 23, MaxOutbound: 40000, Closed: closed,
		BytesIn: 123457, BytesOut: 654323, LogsSuppressed: 77,
		Rejected: 41, Buffered: 4242, HalfClosed: 43,
	}}
	state := &fakeServer{server.Stats{Conns: 7, Accepted: 29}}
	m.WatchServer("proxy", proxy)
	m.WatchServer("state", state)
	var results [handler.NumResults]int64
	for i := range results {
		results[i] = int64(500 + 7*i)
	}
	ep := &fakeEndpoint{port: handler.ProxyPort, st: handler.Stats{Requests: 60, Successful: 31, Failed: 29, Overloaded: 11, Results: results}}
	m.WatchEndpoint(ep)
	m.WatchPool(&fakeWaitingPool{fakePool{running: 37, capacity: 4096}, 3})

	f := gathered(t, m)
	p := []string{"port", "proxy"}
	for _, c := range []struct {
		name   string
		labels []string
		want   int64
	}{
		{"qstate_connections_open", p, 3},
		{"qstate_connections_accepted_total", p, 17},
		{"qstate_batches_total", p, 19},
		{"qstate_batches_in_flight", p, 2},
		{"qstate_connections_pending_writes", p, 5},
		{"qstate_connections_backpressured", p, 4},
		{"qstate_backpressure_pauses_total", p, 23},
		{"qstate_outbound_buffer_max_bytes", p, 40000},
		{"qstate_connections_refused_total", p, closed[server.CloseConnLimit]},
		{"qstate_slow_consumer_disconnects_total", p, closed[server.CloseInboundOverflow] + closed[server.CloseSlowConsumer]},
		{"qstate_log_lines_suppressed_total", p, 77},
		{"qstate_requests_rejected_total", p, 41},
		{"qstate_buffered_bytes", p, 4242},
		{"qstate_connections_half_closed_total", p, 43},
		{"qstate_connections_open", []string{"port", "state"}, 7},
		{"qstate_connections_accepted_total", []string{"port", "state"}, 29},
		{"qstate_bytes_received_total", p, 123457},
		{"qstate_bytes_sent_total", p, 654323},
		{"qstate_pool_workers", nil, 4096},
		{"qstate_pool_workers_running", nil, 37},
		{"qstate_pool_waiting", nil, 3},
	} {
		if got := f.value(t, c.name, c.labels...); got != float64(c.want) {
			t.Errorf("%s%v = %v, want %d", c.name, c.labels, got, c.want)
		}
	}
	for r := range closed {
		reason := server.CloseReason(r).String()
		if got := f.value(t, "qstate_connections_closed_total", "port", "proxy", "reason", reason); got != float64(closed[r]) {
			t.Errorf("closed{reason=%s} = %v, want %d", reason, got, closed[r])
		}
	}
	for r, n := range results {
		res := handler.Result(r).String()
		if got := f.value(t, "qstate_requests_total", "port", "proxy", "result", res); got != float64(n) {
			t.Errorf("requests{result=%s} = %v, want %d", res, got, n)
		}
	}
	// The watched endpoint's histogram is exposed (empty); the unwatched
	// state port's is not.
	if h := f.histogram(t, "qstate_request_duration_seconds", p...); h.GetSampleCount() != 0 {
		t.Errorf("proxy histogram count %d, want 0", h.GetSampleCount())
	}
	if f.find("qstate_request_duration_seconds", "port", "state") != nil {
		t.Error("state histogram exposed without observations or endpoint")
	}
	// Scrapes read the sources afresh.
	proxy.st.Conns = 9
	if got := gathered(t, m).value(t, "qstate_connections_open", p...); got != 9 {
		t.Errorf("after change: open = %v, want 9", got)
	}
}

// TestHistogramMatchesPrometheus (M3): observing a batch of n requests
// fills the buckets exactly as n calls of prometheus.Histogram.Observe
// would, bounds included (le is inclusive), and the count is the number of
// requests.
func TestHistogramMatchesPrometheus(t *testing.T) {
	m := newMetrics(t, Config{NoRuntime: true})
	ref := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ref", Buckets: DefaultBuckets})
	rng := rand.New(rand.NewPCG(1, 2))
	var lats []time.Duration
	for _, b := range DefaultBuckets { // each bound, and one nanosecond either side
		d := time.Duration(math.Round(b * 1e9))
		lats = append(lats, d-1, d, d+1)
	}
	lats = append(lats, 0, -time.Second, 20*time.Second) // below, negative (clock step), above every bound
	for range 2000 {
		lats = append(lats, time.Duration(rng.Int64N(int64(3*time.Second))))
	}
	var total uint64
	for _, d := range lats {
		n := 1 + rng.IntN(50)
		total += uint64(n)
		m.ObserveBatch(handler.StatePort, n, 0, d)
		for range n {
			ref.Observe(max(d, 0).Seconds())
		}
	}
	var want dto.Metric
	if err := ref.Write(&want); err != nil {
		t.Fatal(err)
	}
	got := gathered(t, m).histogram(t, "qstate_request_duration_seconds", "port", "state")
	wh := want.GetHistogram()
	if got.GetSampleCount() != total || wh.GetSampleCount() != total {
		t.Fatalf("count %d (reference %d), want %d", got.GetSampleCount(), wh.GetSampleCount(), total)
	}
	if len(got.GetBucket()) != len(wh.GetBucket()) {
		t.Fatalf("%d buckets, reference %d", len(got.GetBucket()), len(wh.GetBucket()))
	}
	for i, b := range got.GetBucket() {
		w := wh.GetBucket()[i]
		if b.GetUpperBound() != w.GetUpperBound() || b.GetCumulativeCount() != w.GetCumulativeCount() {
			t.Errorf("bucket le=%v: %d, reference le=%v: %d", b.GetUpperBound(), b.GetCumulativeCount(),
				w.GetUpperBound(), w.GetCumulativeCount())
		}
	}
	if diff := math.Abs(got.GetSampleSum() - wh.GetSampleSum()); diff > 1e-6*wh.GetSampleSum() {
		t.Errorf("sum %v, reference %v", got.GetSampleSum(), wh.GetSampleSum())
	}
}

// TestObserveBatchIgnoresJunk: unknown ports and empty batches record nothing.
func TestObserveBatchIgnoresJunk(t *testing.T) {
	m := newMetrics(t, Config{NoRuntime: true})
	m.ObserveBatch(handler.Port(-1), 5, 0, time.Millisecond)
	m.ObserveBatch(handler.Port(7), 5, 0, time.Millisecond)
	m.ObserveBatch(handler.ProxyPort, 0, 0, time.Millisecond)
	m.ObserveBatch(handler.ProxyPort, -3, 0, time.Millisecond)
	if f := gathered(t, m); f["qstate_request_duration_seconds"] != nil {
		t.Fatalf("histograms exposed: %v", f["qstate_request_duration_seconds"])
	}
}

// TestIndependentInstances (M4): two Metrics share nothing, and the
// global registry holds no qstate metric.
func TestIndependentInstances(t *testing.T) {
	a := newMetrics(t, Config{})
	b := newMetrics(t, Config{})
	a.WatchServer("proxy", &fakeServer{server.Stats{Conns: 1}})
	b.WatchServer("proxy", &fakeServer{server.Stats{Conns: 2}})
	a.ObserveBatch(handler.ProxyPort, 3, 0, time.Millisecond)
	if got := gathered(t, a).value(t, "qstate_connections_open", "port", "proxy"); got != 1 {
		t.Errorf("a: open %v", got)
	}
	fb := gathered(t, b)
	if got := fb.value(t, "qstate_connections_open", "port", "proxy"); got != 2 {
		t.Errorf("b: open %v", got)
	}
	if fb["qstate_request_duration_seconds"] != nil {
		t.Error("b sees a's observations")
	}
	if fb["go_goroutines"] == nil || fb["process_cpu_seconds_total"] == nil || fb["go_build_info"] == nil {
		t.Error("runtime collectors missing")
	}
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "qstate_") {
			t.Errorf("global registry holds %s", mf.GetName())
		}
	}
}

// TestWatchMisuse: set-up bugs panic.
func TestWatchMisuse(t *testing.T) {
	mustPanic := func(name string, f func(m *Metrics)) {
		t.Helper()
		m := newMetrics(t, Config{NoRuntime: true})
		m.WatchServer("proxy", &fakeServer{})
		m.WatchEndpoint(&fakeEndpoint{port: handler.ProxyPort})
		m.WatchPool(&fakePool{})
		defer func() {
			if recover() == nil {
				t.Errorf("%s: no panic", name)
			}
		}()
		f(m)
	}
	mustPanic("nil server", func(m *Metrics) { m.WatchServer("state", nil) })
	mustPanic("duplicate server", func(m *Metrics) { m.WatchServer("proxy", &fakeServer{}) })
	mustPanic("nil endpoint", func(m *Metrics) { m.WatchEndpoint(nil) })
	mustPanic("duplicate endpoint", func(m *Metrics) { m.WatchEndpoint(&fakeEndpoint{port: handler.ProxyPort}) })
	mustPanic("unknown port", func(m *Metrics) { m.WatchEndpoint(&fakeEndpoint{port: 9}) })
	mustPanic("nil pool", func(m *Metrics) { m.WatchPool(nil) })
	mustPanic("duplicate pool", func(m *Metrics) { m.WatchPool(&fakePool{}) })
}

// TestConfigValidate: every bad bucket is reported, named, in one error.
func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero config: %v", err)
	}
	_, err := New(Config{Buckets: []float64{0.001, 0.001, -1, math.Inf(1), math.NaN()}})
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("New: %v, want ErrConfig", err)
	}
	for _, want := range []string{"Buckets[1] = 0.001 is not above", "Buckets[2] = -1", "Buckets[3] = +Inf", "Buckets[4] = NaN"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := New(Config{Buckets: []float64{}}); !errors.Is(err, ErrConfig) {
		t.Errorf("empty buckets: %v", err)
	}
	// New copies the caller's buckets.
	b := []float64{0.1, 1}
	m := newMetrics(t, Config{Buckets: b, NoRuntime: true})
	b[0] = 5
	m.ObserveBatch(handler.ProxyPort, 1, 0, 200*time.Millisecond)
	h := gathered(t, m).histogram(t, "qstate_request_duration_seconds", "port", "proxy")
	if ub := h.GetBucket()[0].GetUpperBound(); ub != 0.1 {
		t.Errorf("first bound %v after the caller changed its slice, want 0.1", ub)
	}
}

// TestHandler: /metrics serves the text format, /debug/pprof/ answers,
// other paths are 404.
func TestHandler(t *testing.T) {
	m := newMetrics(t, Config{})
	m.WatchServer("proxy", &fakeServer{server.Stats{Accepted: 5}})
	ts := httptest.NewServer(m.Handler())
	t.Cleanup(ts.Close)
	f := scrape(t, ts.URL+"/metrics")
	if got := f.value(t, "qstate_connections_accepted_total", "port", "proxy"); got != 5 {
		t.Errorf("accepted %v", got)
	}
	if f["go_goroutines"] == nil {
		t.Error("no go_goroutines")
	}
	for path, want := range map[string]string{
		"/":                               "/debug/pprof/",
		"/debug/pprof/":                   "goroutine",
		"/debug/pprof/goroutine?debug=1":  "goroutine profile:",
		"/debug/pprof/cmdline":            "",
		"/debug/pprof/heap?debug=1":       "heap profile:",
		"/debug/pprof/profile?seconds=1":  "", // a CPU profile (binary) of 1 s, the shortest
		"/debug/pprof/symbol":             "num_symbols",
		"/debug/pprof/trace?seconds=0.01": "",
	} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %s, body lacks %q", path, resp.Status, want)
		}
	}
	for _, path := range []string{"/nope", "/metricsx"} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", path, resp.Status)
		}
	}
}
