package cluster_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qstate/qstate/client"
	"github.com/qstate/qstate/cluster"
	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/internal/qstatetest"
	"github.com/qstate/qstate/internal/servertest"
	"github.com/qstate/qstate/node"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/server"
	"github.com/qstate/qstate/state"
)

const (
	e2eKeys      = 1000
	e2eValueSize = 8
	e2eMaxP      = 128
	ioTimeout    = qstatetest.Timeout
)

// testNode is one qstate node in process (package node) on free loopback
// ports, with a Forwarder of its own asking dir, kept to read its Stats.
type testNode struct {
	name         string
	reg          *registry.Registry
	dir          *cluster.LateDirectory
	fwd          *cluster.Forwarder
	n            *node.Node
	proxy, state string // bound addresses

	stopOnce sync.Once
}

// startTestNode starts a node whose registry is empty until Apply; it is
// stopped at cleanup unless stopped before.
func startTestNode(t testing.TB, name string, dir *cluster.LateDirectory) *testNode {
	t.Helper()
	tn := &testNode{name: name, reg: registry.New(), dir: dir}
	var err error
	var fdir cluster.Directory
	if dir != nil {
		fdir = dir
	}
	tn.fwd, err = cluster.NewForwarder(cluster.ForwarderConfig{Directory: fdir})
	if err != nil {
		t.Fatal(err)
	}
	tn.n, err = node.New(tn.reg, node.Config{Forwarder: tn.fwd, RequestTimeout: 2 * time.Second,
		Server: server.Config{EventLoops: 1}})
	if err != nil {
		_ = tn.fwd.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { tn.stop(t) })
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	if err := tn.n.Start(ctx); err != nil {
		t.Fatalf("node %s: Start: %v", name, err)
	}
	proxy, state := tn.n.Addrs()
	tn.proxy, tn.state = proxy.String(), state.String()
	return tn
}

// stop shuts the node down (its ports, then its pool), then the forwarder.
func (tn *testNode) stop(t testing.TB) {
	tn.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		if err := tn.n.Shutdown(ctx); err != nil {
			t.Errorf("node %s: Shutdown: %v", tn.name, err)
		}
		_ = tn.fwd.Close()
	})
}

// syntheticLocal supplies, for each range, a synthetic ValueState<byte[]>
// holding exactly the keys 0..keys-1 whose key group is in the range.
func syntheticLocal(keys, valueSize int) cluster.LocalFunc {
	return func(s *cluster.State, r cluster.Range) (state.KvState, error) {
		st := state.NewValueState(state.Int, state.Void, state.Bytes)
		v := st.Void()
		for k := range keys {
			if r.KeyGroups.Contains(registry.KeyGroupForHash(state.Int.HashCode(int32(k)), s.MaxParallelism)) {
				v.Update(int32(k), dataset.SyntheticValue(nil, k, valueSize))
			}
		}
		return st, nil
	}
}

// testCluster is n nodes serving the synthetic dataset, split by key group
// as n parallel operators would hold it.
type testCluster struct {
	nodes []*testNode
	c     *cluster.Cluster
	job   registry.JobID
}

// startCluster starts n nodes, then writes the cluster description with
// their bound addresses to a file, loads it and applies it to every node.
func startCluster(t testing.TB, n int) *testCluster {
	t.Helper()
	dir := &cluster.LateDirectory{}
	tc := &testCluster{c: &cluster.Cluster{}}
	var err error
	if tc.job, err = registry.ParseJobID(dataset.SyntheticJobID); err != nil {
		t.Fatal(err)
	}
	st := cluster.State{Job: tc.job, Name: dataset.SyntheticState, MaxParallelism: e2eMaxP}
	for i := range n {
		node := startTestNode(t, fmt.Sprintf("n%d", i), dir)
		tc.nodes = append(tc.nodes, node)
		tc.c.Nodes = append(tc.c.Nodes, cluster.Node{Name: node.name, ProxyAddr: node.proxy, StateAddr: node.state})
		st.Ranges = append(st.Ranges, cluster.Range{Node: node.name, KeyGroups: registry.KeyGroupRangeFor(e2eMaxP, n, i)})
	}
	tc.c.States = []cluster.State{st}

	// Through a file, as `qstate serve --cluster` reads it.
	var buf bytes.Buffer
	if err := tc.c.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cluster.json")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	fd, err := cluster.OpenFile(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	tc.c = fd.Cluster()
	static, err := cluster.NewStatic(tc.c)
	if err != nil {
		t.Fatal(err)
	}
	dir.Set(static)
	for _, node := range tc.nodes {
		if _, err := cluster.Apply(node.reg, tc.c, node.name, syntheticLocal(e2eKeys, e2eValueSize)); err != nil {
			t.Fatal(err)
		}
	}
	return tc
}

// owner returns the index of the node that holds key.
func (tc *testCluster) owner(key int32) int {
	kg := registry.KeyGroupForHash(state.Int.HashCode(key), e2eMaxP)
	for i, r := range tc.c.States[0].Ranges {
		if r.KeyGroups.Contains(kg) {
			return i
		}
	}
	return -1
}

// parallel runs f(0..n-1) on workers goroutines and waits.
func parallel(n, workers int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		})
	}
	wg.Wait()
}

// TestClusterServesEveryKey: three nodes; every key of the synthetic
// dataset asked through every node's proxy answers its value, and a
// missing key answers UnknownKeyOrNamespaceException from any node (K3).
func TestClusterServesEveryKey(t *testing.T) {
	tc := startCluster(t, 3)
	cl := servertest.NewClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, node := range tc.nodes {
		addr := node.proxy
		var bad atomic.Int64
		parallel(e2eKeys, 16, func(k int) {
			got, err := client.GetValue(ctx, cl, addr, tc.job, dataset.SyntheticState, state.Int, int32(k), state.Bytes)
			if want := dataset.SyntheticValue(nil, k, e2eValueSize); err != nil || !bytes.Equal(got, want) {
				if bad.Add(1) <= 5 {
					t.Errorf("via %s: key %d (owner n%d) = %x, %v; want %x", node.name, k, tc.owner(int32(k)), got, err, want)
				}
			}
		})
		// Missing keys, some owned by each node.
		owners := map[int]bool{}
		for k := int32(e2eKeys); len(owners) < 3 || k < e2eKeys+20; k++ {
			owners[tc.owner(k)] = true
			_, err := client.GetValue(ctx, cl, addr, tc.job, dataset.SyntheticState, state.Int, k, state.Bytes)
			if !errors.Is(err, codec.ErrUnknownKeyOrNamespace) {
				t.Errorf("via %s: missing key %d (owner n%d): %v, want UnknownKeyOrNamespaceException", node.name, k, tc.owner(k), err)
			}
		}
	}
	// Two thirds of the keys were forwarded by each proxy, and nothing was retried.
	for _, node := range tc.nodes {
		s := node.fwd.Stats()
		if s.Requests < e2eKeys/2 || s.Retries != 0 || s.GaveUp != 0 {
			t.Errorf("node %s forwarder: %+v", node.name, s)
		}
	}
}

// TestClusterNodeDown: after one node stops, its keys fail through the
// other proxies with an error that says why, before the caller's deadline,
// while every other key still answers (K5).
func TestClusterNodeDown(t *testing.T) {
	tc := startCluster(t, 3)
	cl := servertest.NewClient(t)
	down := tc.nodes[2]
	downState := down.state
	down.stop(t)

	const deadline = 3 * time.Second
	var failedOK, servedOK, slowest atomic.Int64
	for _, node := range tc.nodes[:2] {
		addr := node.proxy
		var bad atomic.Int64
		report := func(format string, args ...any) {
			if bad.Add(1) <= 5 {
				t.Errorf(format, args...)
			}
		}
		parallel(e2eKeys, 32, func(k int) {
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			start := time.Now()
			got, err := client.GetValue(ctx, cl, addr, tc.job, dataset.SyntheticState, state.Int, int32(k), state.Bytes)
			took := time.Since(start)
			if tc.owner(int32(k)) != 2 {
				if want := dataset.SyntheticValue(nil, k, e2eValueSize); err != nil || !bytes.Equal(got, want) {
					report("via %s: key %d of a live node = %x, %v; want %x", node.name, k, got, err, want)
					return
				}
				servedOK.Add(1)
				return
			}
			var re *client.RequestError
			switch {
			case err == nil:
				report("via %s: key %d of the stopped node answered %x", node.name, k, got)
			case !errors.As(err, &re):
				report("via %s: key %d: %v (%T), want the proxy's failure, not the caller's deadline", node.name, k, err, err)
			case !strings.Contains(err.Error(), "gave up after") || !strings.Contains(err.Error(), downState):
				report("via %s: key %d: %q does not say it gave up on %s", node.name, k, err, downState)
			case took >= deadline:
				report("via %s: key %d failed after %v, not before the deadline %v", node.name, k, took, deadline)
			default:
				failedOK.Add(1)
				for m := slowest.Load(); int64(took) > m && !slowest.CompareAndSwap(m, int64(took)); m = slowest.Load() {
				}
			}
		})
	}
	t.Logf("%d keys of the stopped node failed, the slowest after %v; %d others answered",
		failedOK.Load(), time.Duration(slowest.Load()), servedOK.Load())
	if failedOK.Load() == 0 || servedOK.Load() == 0 {
		t.Errorf("%d keys of the stopped node failed as they should, %d others answered: want both", failedOK.Load(), servedOK.Load())
	}
	for _, node := range tc.nodes[:2] {
		if s := node.fwd.Stats(); s.GaveUp == 0 || s.Retries < 3*s.GaveUp {
			t.Errorf("node %s forwarder: %+v, want every give-up after %d attempts", node.name, s, cluster.DefaultMaxAttempts)
		}
	}
}

// TestClusterRangeMoved: node n2's key groups move to n1 while n0 still
// has the old location. n0's proxy forwards to n2, which answers
// UnknownKvStateIdException; n0 asks the directory again, finds n1 and
// the new KvStateID, and answers every key (K4).
func TestClusterRangeMoved(t *testing.T) {
	tc := startCluster(t, 3)
	old := tc.c
	st := &old.States[0]
	moved := st.Ranges[2]

	// The new description: n2's range is n1's, under the ID derived for n1.
	next := &cluster.Cluster{Nodes: old.Nodes, States: []cluster.State{{Job: st.Job, Name: st.Name, MaxParallelism: st.MaxParallelism,
		Ranges: []cluster.Range{st.Ranges[0], st.Ranges[1], {Node: "n1", KeyGroups: moved.KeyGroups}}}}}
	static, err := cluster.NewStatic(next)
	if err != nil {
		t.Fatal(err)
	}
	// n1 takes the range over; n2 lets it go; n0 is not told.
	n1, n2 := tc.nodes[1], tc.nodes[2]
	if err := n1.reg.Unregister(st.RangeID(moved)); err != nil {
		t.Fatal(err)
	}
	local, _ := syntheticLocal(e2eKeys, e2eValueSize)(st, moved)
	newID := next.States[0].RangeID(next.States[0].Ranges[2])
	if err := n1.reg.RegisterWithID(st.Job, st.Name, moved.KeyGroups, st.MaxParallelism, newID, local); err != nil {
		t.Fatal(err)
	}
	if err := n2.reg.Unregister(st.RangeID(moved)); err != nil {
		t.Fatal(err)
	}
	// Every node's forwarder asks the same directory.
	for _, n := range tc.nodes {
		n.dir.Set(static)
	}

	cl := servertest.NewClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr := tc.nodes[0].proxy
	movedKeys := 0
	for k := range e2eKeys {
		if tc.owner(int32(k)) == 2 {
			movedKeys++
		}
	}
	var bad atomic.Int64
	parallel(e2eKeys, 32, func(k int) {
		got, err := client.GetValue(ctx, cl, addr, tc.job, dataset.SyntheticState, state.Int, int32(k), state.Bytes)
		if want := dataset.SyntheticValue(nil, k, e2eValueSize); (err != nil || !bytes.Equal(got, want)) && bad.Add(1) <= 5 {
			t.Errorf("key %d (was n%d's) = %x, %v; want %x", k, tc.owner(int32(k)), got, err, want)
		}
	})
	// Each moved key cost one stale attempt and one retry; nothing was given up.
	if s := tc.nodes[0].fwd.Stats(); s.Retries != int64(movedKeys) || s.GaveUp != 0 {
		t.Errorf("n0 forwarder: %+v, want %d retries (one per moved key) and none given up", s, movedKeys)
	}
}
