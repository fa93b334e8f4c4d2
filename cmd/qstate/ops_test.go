package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/qstate/qstate/client"
	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/handler"
	"github.com/qstate/qstate/internal/qstatetest"
	"github.com/qstate/qstate/internal/servertest"
	"github.com/qstate/qstate/server"
	"github.com/qstate/qstate/state"
)

// parse parses args as the qstate command line does, with the given
// environment (t.Setenv: these tests do not run in parallel). Output and
// exits are captured.
func parse(t *testing.T, env map[string]string, args ...string) (*cli, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var c cli
	var out bytes.Buffer
	k, err := kong.New(&c, append(parserOptions(),
		kong.Writers(&out, &out),
		kong.Exit(func(int) { panic("kong exited: " + out.String()) }),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	_, err = k.Parse(args)
	return &c, err
}

// writeFile writes a --config file and returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "qstate.json")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEveryServeFlagHasEnv: every serve flag can be set from
// QSTATE_<FLAG NAME IN UPPER SNAKE CASE>.
func TestEveryServeFlagHasEnv(t *testing.T) {
	k, err := kong.New(&cli{}, parserOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, node := range k.Model.Children {
		if node.Name != "serve" {
			continue
		}
		for _, f := range node.Flags {
			if f.Name == "help" {
				continue
			}
			n++
			want := "QSTATE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
			if len(f.Envs) != 1 || f.Envs[0] != want {
				t.Errorf("--%s: env %v, want [%s]", f.Name, f.Envs, want)
			}
		}
	}
	if n < 20 {
		t.Fatalf("only %d serve flags found", n)
	}
}

// TestConfigPrecedence: a flag overrides its environment variable, which
// overrides the --config file, which overrides the default.
func TestConfigPrecedence(t *testing.T) {
	file := writeFile(t, `{
		"max-conns": 100, "pool-size": 200, "high-watermark": 65536, "low-watermark": 4096,
		"log-format": "json", "shutdown-timeout": "3s", "dispatch": "inline", "admin": ""
	}`)
	env := map[string]string{"QSTATE_POOL_SIZE": "300", "QSTATE_MAX_CONNS": "150"}
	c, err := parse(t, env, "serve", "--config", file, "--max-conns", "120")
	if err != nil {
		t.Fatal(err)
	}
	s := c.Serve
	for _, g := range []struct {
		name      string
		got, want any
	}{
		{"max-conns (flag > env > file)", s.MaxConns, 120},
		{"pool-size (env > file)", s.PoolSize, 300},
		{"high-watermark (file)", s.HighWatermark, 65536},
		{"low-watermark (file)", s.LowWatermark, 4096},
		{"log-format (file)", s.LogFormat, "json"},
		{"shutdown-timeout (file)", s.ShutdownTimeout, 3 * time.Second},
		{"dispatch (file)", s.Dispatch, handler.Inline},
		{"admin (file, empty: off)", s.Admin, ""},
		{"max-in-flight (default)", s.MaxInFlight, 1024},
		{"max-frame (default)", s.MaxFrame, 4 << 20},
		{"log-level (default)", s.LogLevel, "info"},
	} {
		if g.got != g.want {
			t.Errorf("%s: %v, want %v", g.name, g.got, g.want)
		}
	}
	// The file may also be named by QSTATE_CONFIG.
	os.Unsetenv("QSTATE_POOL_SIZE") // set by t.Setenv: restored at cleanup
	c, err = parse(t, map[string]string{"QSTATE_CONFIG": file, "QSTATE_MAX_CONNS": "7"}, "serve")
	if err != nil {
		t.Fatal(err)
	}
	if c.Serve.HighWatermark != 65536 || c.Serve.MaxConns != 7 {
		t.Errorf("QSTATE_CONFIG: high-watermark %d (want 65536 from the file), max-conns %d (want 7 from env)",
			c.Serve.HighWatermark, c.Serve.MaxConns)
	}
}

// TestFlagDefaults: the defaults written in the flags' tags (and shown by
// --help) are the server's and handler's.
func TestFlagDefaults(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "QSTATE_") {
			t.Setenv(k, "") // restored at cleanup
			os.Unsetenv(k)
		}
	}
	c, err := parse(t, nil, "serve")
	if err != nil {
		t.Fatal(err)
	}
	o := c.Serve.opsFlags
	for _, g := range []struct {
		name      string
		got, want any
	}{
		{"admin", o.Admin, DefaultAdminAddr},
		{"pool-size", c.Serve.PoolSize, handler.DefaultPoolSize},
		{"max-frame", o.MaxFrame, codec.DefaultMaxFrameLen},
		{"max-in-flight", o.MaxInFlight, server.DefaultMaxInFlight},
		{"high-watermark", o.HighWatermark, server.DefaultHighWatermark},
		{"low-watermark", o.LowWatermark, server.DefaultLowWatermark},
		{"max-inbound (0: derived from max-frame)", o.MaxInbound, 0},
		{"max-conns (0: derived from the descriptor limit)", o.MaxConns, 0},
		{"max-outbound", o.MaxOutbound, server.DefaultMaxOutbound},
		{"idle-timeout", o.IdleTimeout, server.DefaultIdleTimeout},
		{"stall-timeout", o.StallTimeout, server.DefaultStallTimeout},
		{"frame-timeout", o.FrameTimeout, server.DefaultFrameTimeout},
		{"max-conns-per-addr (0: derived from max-conns)", o.MaxConnsPerAddr, 0},
		{"reserved-conns (0: derived from max-conns)", o.ReservedConns, 0},
		{"max-buffered-total (0: derived from the memory limit)", o.MaxBufferedTotal, int64(0)},
		{"memory-limit (0: GOMEMLIMIT or none)", o.MemoryLimit, int64(0)},
		{"log-rate", o.LogRate, server.DefaultLogRate},
		{"event-loops (0: half of GOMAXPROCS)", o.EventLoops, 0},
		{"log-format", o.LogFormat, "auto"},
		{"dispatch", c.Serve.Dispatch, handler.Auto},
	} {
		if g.got != g.want {
			t.Errorf("--%s defaults to %v, want %v", g.name, g.got, g.want)
		}
	}
	// help text "(0: N)" agrees too.
	var out bytes.Buffer
	k, err := kong.New(&cli{}, append(parserOptions(), kong.Writers(&out, &out), kong.Exit(func(int) {}))...)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = k.Parse([]string{"serve", "--help"})
	help := strings.Join(strings.Fields(out.String()), " ")
	for _, want := range []string{
		"(0: " + strconv.Itoa(handler.DefaultPoolSize) + ")",
		"the larger of " + strconv.Itoa(server.DefaultMaxInbound) + " and --max-frame + 4",
		"(0: " + strconv.Itoa(server.DefaultHighWatermark) + ")",
		"(0: " + strconv.Itoa(server.DefaultLowWatermark) + ")",
		"(0: " + strconv.Itoa(server.DefaultMaxInFlight) + ")",
		"(0: " + strconv.Itoa(codec.DefaultMaxFrameLen) + ")",
		"(0: " + strconv.Itoa(server.DefaultMaxOutbound) + ")",
		"(0: " + strconv.Itoa(server.DefaultLogRate) + ";",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	for flag, want := range map[string]time.Duration{"idle-timeout": server.DefaultIdleTimeout, "stall-timeout": server.DefaultStallTimeout} {
		_, rest, _ := strings.Cut(help, "--"+flag+"=")
		_, rest, _ = strings.Cut(rest, "(0: ")
		text, _, _ := strings.Cut(rest, ";")
		if d, err := time.ParseDuration(text); err != nil || d != want {
			t.Errorf("--%s help says the default is %q, want %v", flag, text, want)
		}
	}
}

// TestConfigFileRejected: unknown keys, keys of other commands, values of
// the wrong shape and broken JSON are errors naming the culprit.
func TestConfigFileRejected(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		want          []string
	}{
		{"unknown keys", `{"max-conns": 5, "max-conn": 1, "addr": "x", "help": true}`,
			[]string{`unknown settings "addr", "help", "max-conn"`}},
		{"itself", `{"config": "other.json"}`, []string{`unknown settings "config"`}},
		{"snake case", `{"max_conns": 5}`, []string{`"max_conns"`}},
		{"object value", `{"max-conns": {"n": 5}}`, []string{`"max-conns": want a string, number or boolean`}},
		{"null value", `{"admin": null}`, []string{`"admin": want a string, number or boolean`}},
		{"bad number", `{"max-conns": "lots"}`, []string{"--max-conns", "lots"}},
		{"not an object", `[1, 2]`, []string{"not a JSON object"}},
		{"trailing data", `{"max-conns": 5} {}`, []string{"data after the object"}},
		{"broken", `{"max-conns": `, []string{"not a JSON object"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, nil, "serve", "--config", writeFile(t, tc.content))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
	if _, err := parse(t, nil, "serve", "--config", filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("missing file accepted")
	}
}

// TestValidateNamesSettings: invalid settings, from flags, environment or
// file, are reported together at start, each naming its flag.
func TestValidateNamesSettings(t *testing.T) {
	_, err := parse(t, nil, "serve", "--high-watermark", "4096")
	if err == nil || !strings.Contains(err.Error(), "--high-watermark: 4096 must be above --low-watermark (8192)") {
		t.Fatalf("high below low: %v", err)
	}
	_, err = parse(t, map[string]string{"QSTATE_LOW_WATERMARK": "70000"}, "serve",
		"--config", writeFile(t, `{"max-frame": 8, "max-inbound": 100}`),
		"--admin", "nope", "--event-loops", "999", "--pool-size=-1", "--socket-send-buffer=-5")
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"--high-watermark: 32768 must be above --low-watermark (70000)",
		"--max-frame: 8 is not in 16..2147483647",
		"--admin: \"nope\" is not HOST:PORT",
		"--event-loops: 999 is not in 0..256",
		"--pool-size: -1 is negative",
		"--socket-send-buffer: -5 is negative",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	os.Unsetenv("QSTATE_LOW_WATERMARK")
	_, err = parse(t, nil, "serve", "--high-watermark", "65536", "--max-outbound", "100000")
	if err == nil || !strings.Contains(err.Error(), "--max-outbound: 100000 must be at least twice --high-watermark (65536)") {
		t.Fatalf("outbound below two watermarks: %v", err)
	}
	_, err = parse(t, nil, "serve", "--max-frame", "4194304", "--max-inbound", "4194304")
	if err == nil || !strings.Contains(err.Error(), "--max-inbound: 4194304 must hold one whole frame: at least --max-frame (4194304) + 4") {
		t.Fatalf("inbound below frame: %v", err)
	}
	for _, bad := range [][]string{
		{"--log-format", "xml"}, {"--log-level", "loud"}, {"--dispatch", "threads"}, {"--max-conns", "x"},
	} {
		if _, err := parse(t, nil, append([]string{"serve"}, bad...)...); err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%v: %v", bad, err)
		}
	}
	// Valid extremes pass.
	if _, err := parse(t, nil, "serve", "--max-frame", "16", "--high-watermark", "2", "--low-watermark", "1",
		"--admin", "", "--max-inbound", "20"); err != nil {
		t.Errorf("valid settings rejected: %v", err)
	}
}

// TestHelpShowsDefaults: --help shows the server's defaults and the
// environment variables.
func TestHelpShowsDefaults(t *testing.T) {
	var c cli
	var out bytes.Buffer
	exited := false
	k, err := kong.New(&c, append(parserOptions(), kong.Writers(&out, &out), kong.Exit(func(int) { exited = true }))...)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = k.Parse([]string{"serve", "--help"})
	if !exited {
		t.Fatal("--help did not exit")
	}
	for _, want := range []string{"--high-watermark=32768", "$QSTATE_HIGH_WATERMARK", "--pool-size=4096", "--admin=\"127.0.0.1:9249\"",
		"--config=FILE", "--log-format=\"auto\"", "--max-in-flight=1024", "--max-frame=4194304"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
}

// TestNewLogger: JSON lines by default off a terminal, zerolog's console
// format on one or when asked, and the level filters.
func TestNewLogger(t *testing.T) {
	for _, tc := range []struct {
		format string
		tty    bool
		json   bool
	}{
		{"auto", false, true}, {"", false, true}, {"auto", true, false}, {"json", true, true}, {"console", false, false},
	} {
		var b bytes.Buffer
		log, err := newLogger(&b, tc.format, "info", tc.tty)
		if err != nil {
			t.Fatal(err)
		}
		log.Debug().Msg("hidden")
		log.Info().Str("k", "v").Msg("shown")
		out := b.String()
		if strings.Contains(out, "hidden") || !strings.Contains(out, "shown") {
			t.Errorf("%q tty=%v: level not applied: %q", tc.format, tc.tty, out)
		}
		var m map[string]any
		isJSON := json.Unmarshal(b.Bytes(), &m) == nil
		if isJSON != tc.json {
			t.Errorf("%q tty=%v: JSON %v, want %v: %q", tc.format, tc.tty, isJSON, tc.json, out)
		}
		if isJSON && (m["level"] != "info" || m["k"] != "v" || m["time"] == nil) {
			t.Errorf("%q: fields %v", tc.format, m)
		}
	}
	if _, err := newLogger(io.Discard, "xml", "info", false); err == nil || !strings.Contains(err.Error(), "--log-format") {
		t.Errorf("bad format: %v", err)
	}
	if _, err := newLogger(io.Discard, "json", "loud", false); err == nil || !strings.Contains(err.Error(), "--log-level") {
		t.Errorf("bad level: %v", err)
	}
}

// TestServeAdmin: serve with --admin exposes /metrics, counting what the
// node answered, and /debug/pprof/; the admin port closes on shutdown.
func TestServeAdmin(t *testing.T) {
	adminc := make(chan net.Addr, 1)
	c := serveCmd{Dataset: "synthetic", Keys: 10, ValueSize: 4}
	c.Admin = "127.0.0.1:0"
	c.adminReady = func(a net.Addr) { adminc <- a }
	var admin net.Addr
	t.Cleanup(func() { // runs after serveForTest's cleanup (LIFO): the node is down
		if admin == nil {
			return
		}
		if c, err := net.DialTimeout("tcp", admin.String(), time.Second); err == nil {
			c.Close()
			t.Error("admin port still open after shutdown")
		}
	})
	proxy, _, _ := serveForTest(t, c)
	admin = qstatetest.Recv(t, adminc, qstatetest.Timeout, "the admin address")

	cl := servertest.NewClient(t)
	job, _ := client.ParseJobID(dataset.SyntheticJobID)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for k := range int32(12) { // 10 found, 2 missing
		kv := state.AppendKeyAndNamespace(nil, state.Int, k, state.Void, state.VoidNamespace{})
		_, _ = cl.GetKvState(ctx, proxy.String(), job, dataset.SyntheticState, k, kv)
	}
	resp, err := http.Get("http://" + admin.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, m := range mfs["qstate_requests_total"].GetMetric() {
		var port, result string
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "port":
				port = l.GetValue()
			case "result":
				result = l.GetValue()
			}
		}
		got[port+"/"+result] = m.GetCounter().GetValue()
	}
	// 10 found keys, plus serve's own start-up self-query of key 0.
	if got["proxy/ok"] != 10+1 || got["proxy/missing_key"] != 2 || got["state/ok"] != 0 {
		t.Errorf("requests %v", got)
	}
	if h := mfs["qstate_request_duration_seconds"]; h == nil || len(h.GetMetric()) != 2 {
		t.Errorf("latency histograms: %v", h)
	}
	if mfs["qstate_pool_workers"].GetMetric()[0].GetGauge().GetValue() != handler.DefaultPoolSize {
		t.Error("pool size not exposed")
	}
	resp, err = http.Get("http://" + admin.String() + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("pprof: %s", resp.Status)
	}
}
