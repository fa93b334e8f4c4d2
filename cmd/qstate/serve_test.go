package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/qstate/qstate/client"
	"github.com/qstate/qstate/cluster"
	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/handler"
	"github.com/qstate/qstate/internal/qstatetest"
	"github.com/qstate/qstate/internal/servertest"
	"github.com/qstate/qstate/registry"
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
		if err := qstatetest.Recv(t, errc, procTimeout, "serve to return"); err != nil {
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
	// The start-up self-query went over TCP to the proxy port and printed its answer.
	selfAnswer := "answered over TCP by " + proxy.String() + ": word-counts[\"flink\"] = "
	for _, want := range []string{dataset.DemoJobID, dataset.DemoWordCounts, dataset.DemoRecentEvents, dataset.DemoUserAttributes, proxy.String(), selfAnswer} {
		if !strings.Contains(banner.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	cl := servertest.NewClient(t)
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
	// Key 0's value is bytes 0, 1, 2, ...: the self-query printed its first 8.
	if want := "answered over TCP by " + proxy.String() + ": state[0] = 16 bytes 00 01 02 03 04 05 06 07\n"; !strings.Contains(banner.String(), want) {
		t.Fatalf("banner lacks %q:\n%s", want, banner)
	}
	cl := servertest.NewClient(t)
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
	c := serveCmd{Dataset: "synthetic", Keys: 1, ValueSize: 1, ProxyAddr: qstatetest.BusyAddr(t), ServerAddr: "127.0.0.1:0",
		ShutdownTimeout: time.Second, LogLevel: "error"}
	err := c.run(context.Background(), new(bytes.Buffer), zerolog.Nop(), nil)
	if err == nil || !strings.Contains(err.Error(), "occupied") {
		t.Fatalf("run: %v, want ports occupied", err)
	}
}

// writeCluster writes a two-node cluster description (a holds key groups
// 0-63 of the synthetic state, b 64-127) with the given addresses.
func writeCluster(t *testing.T, aProxy, aState, bProxy, bState string) string {
	t.Helper()
	job, _ := registry.ParseJobID(dataset.SyntheticJobID)
	c := &cluster.Cluster{
		Nodes: []cluster.Node{{Name: "a", ProxyAddr: aProxy, StateAddr: aState}, {Name: "b", ProxyAddr: bProxy, StateAddr: bState}},
		States: []cluster.State{{Job: job, Name: dataset.SyntheticState, MaxParallelism: 128, Ranges: []cluster.Range{
			{Node: "a", KeyGroups: registry.KeyGroupRange{Start: 0, End: 63}},
			{Node: "b", KeyGroups: registry.KeyGroupRange{Start: 64, End: 127}},
		}}},
	}
	var buf bytes.Buffer
	if err := c.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cluster.json")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestServeCluster: two `serve --cluster` nodes; every key answers through
// node a's proxy, b's keys forwarded to b; a missing key is
// UnknownKeyOrNamespaceException. Node b starts first, listening on free
// ports (the flags override the file), so that a's file can name them.
func TestServeCluster(t *testing.T) {
	const keys, size = 200, 8
	first := writeCluster(t, "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:4")
	_, bState, bBanner := serveForTest(t, serveCmd{Cluster: first, Node: "b", Dataset: "synthetic", Keys: keys, ValueSize: size,
		ForwardTimeout: time.Second, ForwardAttempts: 2})
	second := writeCluster(t, "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", bState.String())
	aProxy, _, aBanner := serveForTest(t, serveCmd{Cluster: second, Node: "a", Dataset: "synthetic", Keys: keys, ValueSize: size,
		ForwardTimeout: time.Second, ForwardAttempts: 2})
	for _, want := range []string{"node a of the cluster", "key groups 0-63: here", "key groups 64-127: node b, forwarded to " + bState.String()} {
		if !strings.Contains(aBanner.String(), want) {
			t.Errorf("banner of a lacks %q:\n%s", want, aBanner)
		}
	}
	if !strings.Contains(bBanner.String(), "key groups 64-127: here") {
		t.Errorf("banner of b:\n%s", bBanner)
	}

	cl := servertest.NewClient(t)
	job, _ := client.ParseJobID(dataset.SyntheticJobID)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	onB := 0
	for k := range int32(keys) {
		if registry.KeyGroupForHash(k, 128) >= 64 {
			onB++
		}
		got, err := client.GetValue(ctx, cl, aProxy.String(), job, dataset.SyntheticState, state.Int, k, state.Bytes)
		if want := dataset.SyntheticValue(nil, int(k), size); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("key %d: %x, %v; want %x", k, got, err, want)
		}
	}
	if onB == 0 || onB == keys {
		t.Fatalf("%d of %d keys on b: the test checks nothing", onB, keys)
	}
	for _, k := range []int32{keys, keys + 1, keys + 2, keys + 3} {
		if _, err := client.GetValue(ctx, cl, aProxy.String(), job, dataset.SyntheticState, state.Int, k, state.Bytes); !errors.Is(err, codec.ErrUnknownKeyOrNamespace) {
			t.Errorf("missing key %d: %v", k, err)
		}
	}
}

// TestServeClusterErrors: bad cluster flags fail at start, saying why.
func TestServeClusterErrors(t *testing.T) {
	file := writeCluster(t, "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:4")
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"nodes": [], "states": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		c    serveCmd
		want string
	}{
		{"no node", serveCmd{Cluster: file, Dataset: "synthetic"}, "needs --node"},
		{"node without cluster", serveCmd{Node: "a", Dataset: "synthetic"}, "needs --cluster"},
		{"demo dataset", serveCmd{Cluster: file, Node: "a", Dataset: "demo"}, "add --dataset synthetic"},
		{"unknown node", serveCmd{Cluster: file, Node: "z", Dataset: "synthetic"}, `node "z" is not in`},
		{"invalid file", serveCmd{Cluster: bad, Node: "a", Dataset: "synthetic"}, "nodes: no nodes"},
		{"inline dispatch", serveCmd{Cluster: file, Node: "a", Dataset: "synthetic", Dispatch: handler.Inline}, "needs Auto or Pool dispatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.Keys, tc.c.ValueSize, tc.c.LogLevel = 10, 8, "error"
			tc.c.ProxyAddr, tc.c.ServerAddr, tc.c.ShutdownTimeout = "127.0.0.1:0", "127.0.0.1:0", time.Second
			err := tc.c.run(context.Background(), new(bytes.Buffer), zerolog.Nop(), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}
