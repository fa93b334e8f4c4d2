package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/qstate/qstate/client"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/handler"
	"github.com/qstate/qstate/state"
)

// serveForTest runs `serve` with c on free ports until the test ends; it
// returns the proxy and state-server addresses and the printed banner.
func serveForTest(t *testing.T, c serveCmd) (proxy, stateAddr net.Addr, banner *bytes.Buffer) {
	t.Helper()
	c.ProxyAddr, c.ServerAddr = "127.0.0.1:0", "127.0.0.1:0"
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 5 * time.Second
	}
	if c.LogLevel == "" {
		c.LogLevel = "warn"
	}
	ctx, cancel := context.WithCancel(context.Background())
	banner = new(bytes.Buffer)
	ready := make(chan [2]net.Addr, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- c.run(ctx, banner, zerolog.Nop(), func(p, s net.Addr) { ready <- [2]net.Addr{p, s} })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("serve returned %v", err)
		}
	})
	select {
	case a := <-ready:
		return a[0], a[1], banner
	case err := <-errc:
		t.Fatalf("serve stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve not ready")
	}
	return nil, nil, nil
}

// TestServeDemo: the demo dataset answers on the proxy port, the banner
// names its JobID and states, and cancelling shuts down cleanly.
func TestServeDemo(t *testing.T) {
	proxy, _, banner := serveForTest(t, serveCmd{Dataset: "demo", DemoInterval: time.Millisecond, Dispatch: handler.Pool})
	for _, want := range []string{dataset.DemoJobID, dataset.DemoWordCounts, dataset.DemoRecentEvents, dataset.DemoUserAttributes, proxy.String()} {
		if !strings.Contains(banner.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	cl, err := client.New(client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	job, _ := client.ParseJobID(dataset.DemoJobID)
	kv := state.AppendKeyAndNamespace(nil, state.String, "flink", state.Void, state.VoidNamespace{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	content, err := cl.GetKvState(ctx, proxy.String(), job, dataset.DemoWordCounts, state.String.HashCode("flink"), kv)
	if err != nil {
		t.Fatal(err)
	}
	if n, rest, err := state.Long.Read(content); err != nil || len(rest) != 0 || n < 1 {
		t.Fatalf("word count of flink: %d %v", n, err)
	}
}

// TestServeSynthetic: the synthetic dataset answers on both ports.
func TestServeSynthetic(t *testing.T) {
	proxy, stateAddr, banner := serveForTest(t, serveCmd{Dataset: "synthetic", Keys: 50, ValueSize: 16, Dispatch: handler.Inline})
	if !strings.Contains(banner.String(), dataset.SyntheticJobID) {
		t.Fatalf("banner:\n%s", banner)
	}
	cl, err := client.New(client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	job, _ := client.ParseJobID(dataset.SyntheticJobID)
	kv := state.AppendKeyAndNamespace(nil, state.Int, int32(49), state.Void, state.VoidNamespace{})
	want := state.Bytes.Append(nil, dataset.SyntheticValue(nil, 49, 16))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	content, err := cl.GetKvState(ctx, proxy.String(), job, dataset.SyntheticState, 49, kv)
	if err != nil || !bytes.Equal(content, want) {
		t.Fatalf("proxy: %x %v", content, err)
	}
	// The KvStateID printed in the banner works on the state-server port.
	i := strings.Index(banner.String(), "KvStateID ")
	id, err := client.ParseJobID(strings.Fields(banner.String()[i+len("KvStateID "):])[0])
	if err != nil {
		t.Fatal(err)
	}
	content, err = cl.GetKvStateInternal(ctx, stateAddr.String(), id, kv)
	if err != nil || !bytes.Equal(content, want) {
		t.Fatalf("state server: %x %v", content, err)
	}
}

// TestServePortsInUse: a port range with no free port fails at start.
func TestServePortsInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c := serveCmd{Dataset: "synthetic", Keys: 1, ValueSize: 1, ProxyAddr: ln.Addr().String(), ServerAddr: "127.0.0.1:0",
		ShutdownTimeout: time.Second, LogLevel: "error"}
	err = c.run(context.Background(), new(bytes.Buffer), zerolog.Nop(), nil)
	if err == nil || !strings.Contains(err.Error(), "occupied") {
		t.Fatalf("run: %v, want ports occupied", err)
	}
}
