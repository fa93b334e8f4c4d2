package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/qstate/qstate/internal/qstatetest"
)

// quick is a small, bounded load against addr.
func quick(addr string) Config {
	return Config{
		Addr:         addr,
		Conns:        4,
		Pipeline:     16,
		Keys:         1000,
		ValueSize:    8,
		Timeout:      5 * time.Second,
		DrainTimeout: 5 * time.Second,
	}
}

func mustRun(t *testing.T, cfg Config) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

// checkI2 asserts that every measured request ended exactly one way.
func checkI2(t *testing.T, r *Report) {
	t.Helper()
	var sum int64
	for _, e := range r.Errors {
		sum += e.Count
	}
	if sum != r.ErrorTotal {
		t.Errorf("error_total %d, errors sum to %d", r.ErrorTotal, sum)
	}
	if r.Sent != r.OK+r.ErrorTotal {
		t.Errorf("I2: sent %d != ok %d + errors %d", r.Sent, r.OK, r.ErrorTotal)
	}
	answered := r.OK + r.Err(KindRequestFailure) + r.Err(KindWrongValue)
	if r.Completed != answered {
		t.Errorf("I2: completed %d != ok + request failures + wrong values = %d", r.Completed, answered)
	}
	if got := r.Histogram.TotalCount(); got != r.Completed {
		t.Errorf("histogram holds %d latencies, completed %d", got, r.Completed)
	}
}

// TestRequestsExact: a window of N requests completes exactly N (I1), the
// server saw exactly N, every value verifies, and every connection is
// closed when Run returns (I4).
func TestRequestsExact(t *testing.T) {
	for _, tc := range []struct {
		name     string
		conns    int
		pipeline int
		n        int64
		internal bool
	}{
		{"4x16", 4, 16, 5000, false},
		{"3x7-odd", 3, 7, 1001, false},
		{"1x1", 1, 1, 300, false},
		{"budget-below-pipeline", 8, 64, 100, false},
		{"internal", 4, 16, 2000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeFlink(t, 1000, 8)
			cfg := quick(f.start(t))
			cfg.Conns, cfg.Pipeline, cfg.Requests, cfg.Verify = tc.conns, tc.pipeline, tc.n, true
			if tc.internal {
				cfg.Internal, cfg.KvStateID = true, "0102030405060708090a0b0c0d0e0f10"
			}
			rep := mustRun(t, cfg)
			if rep.Completed != tc.n || rep.Sent != tc.n || rep.OK != tc.n {
				t.Errorf("I1: sent %d completed %d ok %d, want %d", rep.Sent, rep.Completed, rep.OK, tc.n)
			}
			if got := f.requests.Load(); got != tc.n {
				t.Errorf("server saw %d requests, want %d", got, tc.n)
			}
			if rep.ErrorTotal != 0 || rep.ConnFailures != 0 {
				t.Errorf("errors %v, conn failures %d (%s)", rep.Errors, rep.ConnFailures, rep.FirstConnError)
			}
			checkI2(t, rep)
			f.waitClosed(t, int64(tc.conns))
			if rep.Latency.P50 <= 0 || rep.Latency.P99 < rep.Latency.P50 || rep.Latency.Max < rep.Latency.P999 {
				t.Errorf("implausible latency %+v", rep.Latency)
			}
			if rep.RequestsPerSecond <= 0 || rep.Seconds <= 0 {
				t.Errorf("throughput %v over %v s", rep.RequestsPerSecond, rep.Seconds)
			}
		})
	}
}

// TestWarmupNotCounted: warm-up requests reach the server but not the report.
func TestWarmupNotCounted(t *testing.T) {
	f := newFakeFlink(t, 1000, 8)
	cfg := quick(f.start(t))
	cfg.Warmup, cfg.Requests = 100*time.Millisecond, 2000
	rep := mustRun(t, cfg)
	if rep.Completed != 2000 {
		t.Errorf("completed %d, want 2000", rep.Completed)
	}
	if got := f.requests.Load(); got <= 2000 {
		t.Errorf("server saw %d requests; warm-up sent none", got)
	}
	checkI2(t, rep)
}

// TestMissingKeys: keys beyond the dataset come back as REQUEST_FAILURE and
// are counted by the Java class of the golden payload, exactly as many as
// the server refused.
func TestMissingKeys(t *testing.T) {
	f := newFakeFlink(t, 500, 8)
	cfg := quick(f.start(t))
	cfg.Keys, cfg.Requests, cfg.Verify = 1000, 4000, true
	rep := mustRun(t, cfg)
	misses := f.misses.Load()
	if misses == 0 {
		t.Fatal("the fake refused no key; the test proves nothing")
	}
	if got := rep.ErrClass(KindRequestFailure, classUnknownKey); got != misses {
		t.Errorf("request_failure %s = %d, server refused %d; errors %v", classUnknownKey, got, misses, rep.Errors)
	}
	if rep.OK != 4000-misses || rep.Completed != 4000 {
		t.Errorf("ok %d completed %d, want %d and 4000", rep.OK, rep.Completed, 4000-misses)
	}
	checkI2(t, rep)
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), classUnknownKey) {
		t.Errorf("table does not name the exception class:\n%s", table.String())
	}
}

// TestVerifyCatchesWrongValue: one corrupted byte in one key's value is a
// wrong_value with Verify, and goes unnoticed without it.
func TestVerifyCatchesWrongValue(t *testing.T) {
	for _, verify := range []bool{true, false} {
		t.Run(map[bool]string{true: "verify", false: "no-verify"}[verify], func(t *testing.T) {
			f := newFakeFlink(t, 10, 1024)
			f.wrongKey = 7
			cfg := quick(f.start(t))
			cfg.Keys, cfg.ValueSize, cfg.Requests, cfg.Verify = 10, 1024, 2000, verify
			rep := mustRun(t, cfg)
			wrongs := f.wrongs.Load()
			if wrongs == 0 {
				t.Fatal("key 7 was never asked for")
			}
			want := int64(0)
			if verify {
				want = wrongs
			}
			if got := rep.Err(KindWrongValue); got != want {
				t.Errorf("wrong_value %d, want %d", got, want)
			}
			checkI2(t, rep)
		})
	}
}

// TestVerifyWrongSize: values of another size fail verification, also
// when they are larger than the read buffer (read whole, then checked).
func TestVerifyWrongSize(t *testing.T) {
	for _, served := range []int{16, 100_000} {
		f := newFakeFlink(t, 100, served)
		cfg := quick(f.start(t))
		cfg.Keys, cfg.ValueSize, cfg.Requests, cfg.Verify = 100, 8, 200, true
		rep := mustRun(t, cfg)
		if got := rep.Err(KindWrongValue); got != 200 || rep.ConnFailures != 0 {
			t.Errorf("served %d B: wrong_value %d, want 200; conn failures %d (%s)", served, got, rep.ConnFailures, rep.FirstConnError)
		}
		checkI2(t, rep)
	}
}

// TestOutOfOrder: responses answered in reverse order are matched by id (I5).
func TestOutOfOrder(t *testing.T) {
	f := newFakeFlink(t, 1000, 8)
	f.reverse = true
	cfg := quick(f.start(t))
	cfg.Requests, cfg.Verify = 3000, true
	rep := mustRun(t, cfg)
	if rep.OK != 3000 || rep.ErrorTotal != 0 {
		t.Errorf("ok %d errors %v", rep.OK, rep.Errors)
	}
}

// TestUnknownID: a response id that is not in flight is a protocol error;
// that connection's requests are lost, the others finish the window.
func TestUnknownID(t *testing.T) {
	f := newFakeFlink(t, 1000, 8)
	f.badIDAfter = 50
	cfg := quick(f.start(t))
	cfg.Conns, cfg.Requests = 2, 400
	rep := mustRun(t, cfg)
	if rep.Err(KindProtocol) == 0 || rep.ConnFailures != 2 {
		t.Errorf("protocol errors %d, conn failures %d", rep.Err(KindProtocol), rep.ConnFailures)
	}
	if !strings.Contains(rep.FirstConnError, "unknown request id") {
		t.Errorf("first error %q", rep.FirstConnError)
	}
	checkI2(t, rep)
	f.waitClosed(t, 2)
}

// TestServerFailure: a SERVER_FAILURE is counted with its Java class for the
// requests in flight on that connection.
func TestServerFailure(t *testing.T) {
	f := newFakeFlink(t, 1000, 8)
	payload, class := goldenServerFailurePayload(t)
	f.serverFailureAt, f.sfPayload = 20, payload
	cfg := quick(f.start(t))
	cfg.Conns, cfg.Pipeline, cfg.Requests = 1, 8, 100
	rep := mustRun(t, cfg)
	if got := rep.ErrClass(KindServerFailure, class); got == 0 || got > 8 {
		t.Errorf("server_failure %s = %d, want 1..8; errors %v", class, got, rep.Errors)
	}
	if !strings.Contains(rep.FirstConnError, ErrServerFailure.Error()+": "+class) {
		t.Errorf("first error %q", rep.FirstConnError)
	}
	checkI2(t, rep)
}

// TestTimeout: a server that never answers fails every connection after
// Timeout; the run stops by itself (I4).
func TestTimeout(t *testing.T) {
	f := newFakeFlink(t, 1000, 8)
	f.silent = true
	cfg := quick(f.start(t))
	cfg.Requests, cfg.Timeout, cfg.ProgressInterval = 100, 200*time.Millisecond, 20*time.Millisecond
	start := time.Now()
	rep := mustRun(t, cfg)
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("took %v", el)
	}
	if rep.Err(KindConnection) != rep.Sent || rep.Sent == 0 || rep.ConnFailures != cfg.Conns {
		t.Errorf("sent %d, connection errors %d, conn failures %d", rep.Sent, rep.Err(KindConnection), rep.ConnFailures)
	}
	if !strings.Contains(rep.FirstConnError, ErrTimeout.Error()) {
		t.Errorf("first error %q", rep.FirstConnError)
	}
	f.waitClosed(t, int64(cfg.Conns))
}

// TestDuration: a timed window with warm-up lasts about as long as asked
// and reports progress through every phase.
func TestDuration(t *testing.T) {
	f := newFakeFlink(t, 1000, 8)
	cfg := quick(f.start(t))
	cfg.Warmup, cfg.Duration, cfg.ProgressInterval = 100*time.Millisecond, 300*time.Millisecond, 20*time.Millisecond
	phases := map[Phase]bool{}
	var last Progress
	cfg.Progress = func(p Progress) { phases[p.Phase] = true; last = p }
	start := time.Now()
	rep := mustRun(t, cfg)
	el := time.Since(start)
	if el < 400*time.Millisecond || el > 5*time.Second {
		t.Errorf("run took %v for 100 ms warm-up + 300 ms window", el)
	}
	if rep.Seconds < 0.3 || rep.Seconds > 3 {
		t.Errorf("window %v s, want about 0.3", rep.Seconds)
	}
	if !phases[PhaseWarmup] || !phases[PhaseMeasure] || !phases[PhaseDone] {
		t.Errorf("phases seen %v", phases)
	}
	if last.Phase != PhaseDone || last.Completed != rep.Completed {
		t.Errorf("last progress %+v, completed %d", last, rep.Completed)
	}
	checkI2(t, rep)
	f.waitClosed(t, int64(cfg.Conns))
}

// TestCancel: cancelling the context stops the run and returns its error.
func TestCancel(t *testing.T) {
	f := newFakeFlink(t, 1000, 8)
	cfg := quick(f.start(t))
	cfg.Duration = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	cfg.ProgressInterval = 10 * time.Millisecond
	cfg.Progress = func(p Progress) {
		if p.Completed > 1000 {
			cancel()
		}
	}
	start := time.Now()
	rep, err := Run(ctx, cfg)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if time.Since(start) > 10*time.Second || rep == nil || rep.Completed < 1000 {
		t.Errorf("took %v, report %+v", time.Since(start), rep)
	}
	f.waitClosed(t, int64(cfg.Conns))
}

// TestDialError: an address nobody listens on fails before any load.
func TestDialError(t *testing.T) {
	_, err := Run(context.Background(), quick(qstatetest.DeadAddr(t)))
	if !errors.Is(err, ErrDial) {
		t.Errorf("err %v, want ErrDial", err)
	}
}

// TestServerCPU: with a pid, the report has CPU time per request; a pid
// that does not exist fails before the run.
func TestServerCPU(t *testing.T) {
	f := newFakeFlink(t, 1000, 8)
	cfg := quick(f.start(t))
	cfg.Requests, cfg.ServerPID = 20000, osPid()
	rep := mustRun(t, cfg)
	if rep.ServerCPUMicrosPerRequest == nil || rep.ServerCPUSeconds == nil {
		t.Fatal("no server CPU in the report")
	}
	// The fake runs in this process, so the harness and the fake together
	// used some CPU: more than zero, less than a second per request.
	if us := *rep.ServerCPUMicrosPerRequest; !(us > 0 && us < 1e6) {
		t.Errorf("server CPU %v µs/request", us)
	}
	cfg.ServerPID = 1 << 30
	if _, err := Run(context.Background(), cfg); !errors.Is(err, ErrServerCPU) {
		t.Errorf("err %v, want ErrServerCPU", err)
	}
}

// TestJSON: the JSON report parses into the documented fields.
func TestJSON(t *testing.T) {
	f := newFakeFlink(t, 100, 8)
	cfg := quick(f.start(t))
	cfg.Keys, cfg.Requests, cfg.Dist, cfg.ZipfS, cfg.ServerPID = 200, 1000, Zipf, 1.2, osPid()
	rep := mustRun(t, cfg)
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	for field, want := range map[string]any{
		"protocol": "flink", "request": "KvStateRequest", "addr": cfg.Addr, "conns": 4.0, "pipeline": 16.0,
		"keys": 200.0, "dist": "zipf", "zipf_s": 1.2, "value_size": 8.0, "verify": false,
		"sent": 1000.0, "completed": 1000.0,
	} {
		if m[field] != want {
			t.Errorf("%s = %#v, want %#v", field, m[field], want)
		}
	}
	for _, field := range []string{"seconds", "warmup_seconds", "ok", "error_total", "requests_per_second",
		"server_cpu_us_per_request", "server_cpu_seconds", "client_cpu_us_per_request", "conn_failures"} {
		if _, ok := m[field].(float64); !ok {
			t.Errorf("%s = %#v, want a number", field, m[field])
		}
	}
	lat, _ := m["latency_us"].(map[string]any)
	for _, q := range []string{"min", "mean", "p50", "p90", "p99", "p99_9", "max"} {
		if v, ok := lat[q].(float64); !ok || v <= 0 {
			t.Errorf("latency_us.%s = %#v", q, lat[q])
		}
	}
	errs, _ := m["errors"].([]any)
	if len(errs) != 1 {
		t.Fatalf("errors %#v, want one entry", m["errors"])
	}
	e := errs[0].(map[string]any)
	if e["kind"] != "request_failure" || e["class"] != classUnknownKey || e["count"] != float64(f.misses.Load()) {
		t.Errorf("errors[0] %#v, server refused %d", e, f.misses.Load())
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Dist != Zipf || back.Protocol != Flink || back.Errors[0].Kind != KindRequestFailure || back.Latency != rep.Latency {
		t.Errorf("round trip: %+v", back)
	}
}

// TestRESPFake: RESP mode against a tiny in-test RESP server: preload,
// verified GETs, and missing keys counted as (nil).
func TestRESPFake(t *testing.T) {
	f, addr := newFakeRESP(t)
	cfg := quick(addr)
	cfg.Protocol, cfg.Keys, cfg.ValueSize, cfg.Preload, cfg.Verify, cfg.Requests = RESP, 500, 100, true, true, 3000
	rep := mustRun(t, cfg)
	if rep.OK != 3000 || rep.ErrorTotal != 0 || rep.Request != "GET" {
		t.Errorf("ok %d errors %v request %s", rep.OK, rep.Errors, rep.Request)
	}
	if got := f.gets.Load(); got != 3000 {
		t.Errorf("server saw %d GETs", got)
	}
	checkI2(t, rep)

	// Ask for twice the keys that were loaded: the rest are nil replies.
	cfg.Preload, cfg.Keys = false, 1000
	rep = mustRun(t, cfg)
	if rep.Err(KindRequestFailure) == 0 || rep.ErrClass(KindRequestFailure, "(nil)") != rep.Err(KindRequestFailure) {
		t.Errorf("errors %v", rep.Errors)
	}
	checkI2(t, rep)

	// A wrong value size is caught by verify.
	cfg.Keys, cfg.ValueSize = 500, 99
	rep = mustRun(t, cfg)
	if rep.Err(KindWrongValue) != 3000 {
		t.Errorf("wrong values %d, want 3000", rep.Err(KindWrongValue))
	}
}

// TestPreloadNeedsRESP: Flink servers hold their own dataset.
func TestPreloadNeedsRESP(t *testing.T) {
	if err := Preload(context.Background(), Config{Preload: true}); !errors.Is(err, ErrConfig) {
		t.Errorf("err %v", err)
	}
}

func osPid() int { return os.Getpid() }
