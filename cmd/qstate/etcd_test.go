package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/qstate/qstate/client"
	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/etcddir"
	"github.com/qstate/qstate/handler"
	"github.com/qstate/qstate/internal/etcdtest"
	"github.com/qstate/qstate/internal/qstatetest"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/state"
)

// TestServeEtcd: two `serve --etcd-endpoints` nodes holding half the key
// groups each answer every key through either proxy; `cluster status`
// lists both with their ranges, and, once one leaves, the key groups no
// live node holds, which then fail at once with the location failure.
func TestServeEtcd(t *testing.T) {
	etcd := etcdtest.Start(t)
	node := func(name, kgs string) serveCmd {
		return serveCmd{Dataset: "synthetic", Keys: 200, ValueSize: 8, Node: name, KeyGroups: kgs, MaxParallelism: 128,
			ForwardTimeout: 2 * time.Second, ForwardAttempts: 4, Dispatch: handler.Pool,
			etcdFlags: etcdFlags{EtcdEndpoints: []string{etcd.Endpoint()}, ClusterName: "t", EtcdTTL: 2 * time.Second}}
	}
	proxyA, _, bannerA := serveForTest(t, node("a", "0-63"))
	for _, want := range []string{"node a of cluster \"t\"", "key groups 0-63 of 128", "qstate cluster status --etcd-endpoints " + etcd.Endpoint()} {
		if !strings.Contains(bannerA.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, bannerA)
		}
	}
	stopB := serveUntil(t, node("b", "64-127"))

	cl, err := client.New(client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	job, _ := client.ParseJobID(dataset.SyntheticJobID)
	get := func(k int32) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		kv := state.AppendKeyAndNamespace(nil, state.Int, k, state.Void, state.VoidNamespace{})
		content, err := cl.GetKvState(ctx, proxyA.String(), job, dataset.SyntheticState, state.Int.HashCode(k), kv)
		if err == nil && !bytes.Equal(content, state.Bytes.Append(nil, dataset.SyntheticValue(nil, int(k), 8))) {
			err = errors.New("wrong value")
		}
		return err
	}
	// Node a learns of b through etcd: every key answers through a's proxy.
	deadline := time.Now().Add(20 * time.Second)
	for k := int32(0); k < 200; k++ {
		qstatetest.Retry(t, time.Until(deadline), func() error { return get(k) }, fmt.Sprintf("key %d through node a", k))
	}

	status := func() string {
		var out bytes.Buffer
		c := clusterStatusCmd{EtcdEndpoints: []string{etcd.Endpoint()}, ClusterName: "t", Timeout: 5 * time.Second}
		if err := c.run(context.Background(), &out); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	s := status()
	for _, want := range []string{"2 live members", "member a ", "member b ", "key groups 0-63: a", "key groups 64-127: b", "every key group is held"} {
		if !strings.Contains(s, want) {
			t.Errorf("status lacks %q:\n%s", want, s)
		}
	}

	// b leaves (its lease is revoked): its key groups are uncovered at once.
	stopB()
	s = status()
	for _, want := range []string{"1 live members", "NO LIVE NODE holds key groups 64-127"} {
		if !strings.Contains(s, want) {
			t.Errorf("status after b left lacks %q:\n%s", want, s)
		}
	}
	var kB int32
	for registry.KeyGroupForHash(state.Int.HashCode(kB), 128) < 64 {
		kB++
	}
	qstatetest.Retry(t, 10*time.Second, func() error {
		if err := get(kB); !errors.Is(err, codec.ErrUnknownKvStateKeyGroupLocation) {
			return fmt.Errorf("got %v", err)
		}
		return nil
	}, fmt.Sprintf("key %d of the node that left to fail with UnknownKvStateKeyGroupLocationException", kB))
}

// serveUntil runs `serve` with c on free ports and returns a function that
// stops it (also called at cleanup).
func serveUntil(t *testing.T, c serveCmd) (stop func()) {
	t.Helper()
	c.ProxyAddr, c.ServerAddr, c.ShutdownTimeout, c.LogLevel = "127.0.0.1:0", "127.0.0.1:0", 5*time.Second, "warn"
	ctx, cancel := context.WithCancel(context.Background())
	ready, errc := make(chan struct{}), make(chan error, 1)
	go func() {
		errc <- c.run(ctx, new(bytes.Buffer), zerolog.Nop(), func(_, _ net.Addr) { close(ready) })
	}()
	done := false
	stop = func() {
		if done {
			return
		}
		done = true
		cancel()
		if err := qstatetest.Recv(t, errc, procTimeout, "serve to return"); err != nil {
			t.Errorf("serve returned %v", err)
		}
	}
	t.Cleanup(stop)
	select {
	case <-ready:
	case err := <-errc:
		done = true
		t.Fatalf("serve stopped: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("serve not ready")
	}
	return stop
}

// TestEtcdFlagDefaults: the defaults in the etcd flags' tags are etcddir's
// and dataset's.
func TestEtcdFlagDefaults(t *testing.T) {
	c, err := parse(t, nil, "serve")
	if err != nil {
		t.Fatal(err)
	}
	s := c.Serve
	if s.EtcdTTL != etcddir.DefaultTTL || s.ClusterName != etcddir.DefaultCluster || s.MaxParallelism != dataset.SyntheticMaxParallelism {
		t.Errorf("--etcd-ttl %v, --cluster-name %q, --max-parallelism %d; want %v, %q, %d", s.EtcdTTL, s.ClusterName,
			s.MaxParallelism, etcddir.DefaultTTL, etcddir.DefaultCluster, dataset.SyntheticMaxParallelism)
	}
}

// TestEtcdFlagErrors: serve refuses inconsistent cluster flags before
// touching etcd or a port, saying which flag is wrong.
func TestEtcdFlagErrors(t *testing.T) {
	base := func() serveCmd {
		return serveCmd{Dataset: "synthetic", Keys: 10, ValueSize: 8, Node: "a", MaxParallelism: 128, LogLevel: "warn",
			etcdFlags: etcdFlags{EtcdEndpoints: []string{"http://127.0.0.1:1"}, ClusterName: "t", EtcdTTL: time.Second}}
	}
	for _, tc := range []struct {
		name string
		edit func(*serveCmd)
		want string
	}{
		{"no node", func(c *serveCmd) { c.Node = "" }, "needs --node"},
		{"with a file", func(c *serveCmd) { c.Cluster = "x.json" }, "exclude each other"},
		{"demo", func(c *serveCmd) { c.Dataset = "demo" }, "--dataset synthetic"},
		{"pebble", func(c *serveCmd) { c.StateBackend = "pebble" }, "not with --state-backend pebble"},
		{"bad ranges", func(c *serveCmd) { c.KeyGroups = "5-2" }, "--key-groups"},
		{"overlapping ranges", func(c *serveCmd) { c.KeyGroups = "0-10,5-20" }, "overlap"},
		{"beyond max parallelism", func(c *serveCmd) { c.KeyGroups = "0-200" }, "beyond --max-parallelism"},
		{"max parallelism", func(c *serveCmd) { c.MaxParallelism = 40000 }, "--max-parallelism"},
	} {
		c := base()
		tc.edit(&c)
		err := c.run(context.Background(), new(bytes.Buffer), zerolog.Nop(), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}
