package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/qstate/qstate/client"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/handler"
	"github.com/qstate/qstate/internal/qstatetest"
	"github.com/qstate/qstate/state"
)

// servePebbleOnce serves the synthetic dataset from the Pebble store in
// dir (inline dispatch: the look-ups must still leave the event loop),
// checks keys over TCP and stops; it returns the log.
func servePebbleOnce(t *testing.T, dir string) string {
	t.Helper()
	c := serveCmd{Dataset: "synthetic", Keys: 300, ValueSize: 40, Dispatch: handler.Inline,
		ProxyAddr: "127.0.0.1:0", ServerAddr: "127.0.0.1:0", ShutdownTimeout: 5 * time.Second, LogLevel: "info",
		storeFlags: storeFlags{StateBackend: "pebble", DataDir: dir, CacheSize: 1 << 20}}
	c.Admin = "127.0.0.1:0"
	adminc := make(chan net.Addr, 1)
	c.adminReady = func(a net.Addr) { adminc <- a }
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	var logs qstatetest.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- c.run(ctx, new(bytes.Buffer), zerolog.New(&logs), func(p, _ net.Addr) { ready <- p })
	}()
	var proxy net.Addr
	select {
	case proxy = <-ready:
	case err := <-errc:
		t.Fatalf("serve stopped: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("serve not ready")
	}
	cl, err := client.New(client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	job, _ := client.ParseJobID(dataset.SyntheticJobID)
	qctx, qcancel := context.WithTimeout(context.Background(), 5*time.Second)
	for _, k := range []int32{0, 1, 150, 299} {
		kv := state.AppendKeyAndNamespace(nil, state.Int, k, state.Void, state.VoidNamespace{})
		content, err := cl.GetKvState(qctx, proxy.String(), job, dataset.SyntheticState, k, kv)
		if want := state.Bytes.Append(nil, dataset.SyntheticValue(nil, int(k), 40)); err != nil || !bytes.Equal(content, want) {
			t.Errorf("key %d: %x %v", k, content, err)
		}
	}
	kv := state.AppendKeyAndNamespace(nil, state.Int, int32(300), state.Void, state.VoidNamespace{})
	if _, err := cl.GetKvState(qctx, proxy.String(), job, dataset.SyntheticState, 300, kv); err == nil {
		t.Error("key 300 (absent) answered")
	}
	qcancel()
	cl.Close()
	// The store's metrics are on the admin port: its disk usage, and the
	// look-ups just made as block cache hits or misses.
	admin := <-adminc
	resp, err := http.Get("http://" + admin.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var hits, misses, disk float64
	for _, line := range strings.Split(string(body), "\n") {
		var v float64
		if _, err := fmt.Sscanf(line, "qstate_store_cache_hits_total %g", &v); err == nil {
			hits = v
		}
		if _, err := fmt.Sscanf(line, "qstate_store_cache_misses_total %g", &v); err == nil {
			misses = v
		}
		if _, err := fmt.Sscanf(line, "qstate_store_disk_bytes %g", &v); err == nil {
			disk = v
		}
	}
	if hits+misses == 0 || disk == 0 || !strings.Contains(string(body), "qstate_store_read_amplification") {
		t.Errorf("store metrics: hits %v misses %v disk %v in\n%s", hits, misses, disk, body)
	}
	cancel()
	if err := qstatetest.Recv(t, errc, procTimeout, "serve to return"); err != nil {
		t.Fatalf("serve returned %v", err)
	}
	return logs.String()
}

// TestServePebble: --state-backend pebble writes the synthetic dataset to
// the data directory on first start and answers from it (inline dispatch
// hands the look-ups to the pool); a restart on the same directory reuses
// the store, writing nothing, and answers at once.
func TestServePebble(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	if logs := servePebbleOnce(t, dir); !strings.Contains(logs, `"written":true`) {
		t.Fatalf("first start did not write the dataset:\n%s", logs)
	}
	if logs := servePebbleOnce(t, dir); !strings.Contains(logs, `"written":false`) {
		t.Fatalf("restart wrote the dataset again:\n%s", logs)
	}
}

// TestServePebbleBadDataDir: a data directory holding something else, and
// flags that do not go together, fail at start with a message naming the
// problem.
func TestServePebbleBadDataDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := serveCmd{Dataset: "synthetic", Keys: 10, ValueSize: 8, ProxyAddr: "127.0.0.1:0", ServerAddr: "127.0.0.1:0",
		LogLevel: "warn", storeFlags: storeFlags{StateBackend: "pebble", DataDir: dir}}
	err := c.run(context.Background(), new(bytes.Buffer), zerolog.Nop(), nil)
	if err == nil || !strings.Contains(err.Error(), "no Pebble database") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("serve on a foreign directory: %v", err)
	}
	for _, bad := range []serveCmd{
		{Dataset: "synthetic", storeFlags: storeFlags{StateBackend: "pebble"}},              // no --data-dir
		{Dataset: "demo", storeFlags: storeFlags{StateBackend: "pebble", DataDir: dir}},     // demo
		{Dataset: "synthetic", storeFlags: storeFlags{StateBackend: "heap", DataDir: dir}},  // dir without pebble
		{Dataset: "synthetic", storeFlags: storeFlags{StateBackend: "rocks", DataDir: dir}}, // unknown
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v validated", bad.storeFlags)
		}
	}
	var b byteSize
	if err := b.UnmarshalText([]byte("64MiB")); err != nil || b != 64<<20 {
		t.Fatalf("64MiB = %d, %v", b, err)
	}
	if err := b.UnmarshalText([]byte("lots")); err == nil {
		t.Fatal("'lots' parsed")
	}
}
