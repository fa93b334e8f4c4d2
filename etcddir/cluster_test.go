package etcddir

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qstate/qstate/bench"
	"github.com/qstate/qstate/client"
	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/internal/etcdtest"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/state"
)

// verifyAll runs the bench harness with verification through the proxy at
// addr until requests were answered, and fails t on any error or wrong value.
func verifyAll(t *testing.T, what, addr string, requests int64) *bench.Report {
	t.Helper()
	cfg := bench.Config{Addr: addr, Conns: 4, Pipeline: 8, Keys: testKeys, ValueSize: testValueSize,
		Verify: true, Requests: requests, Timeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		t.Fatalf("%s: bench: %v", what, err)
	}
	if rep.ErrorTotal != 0 || rep.OK != requests || rep.ConnFailures != 0 {
		t.Fatalf("%s: %d of %d requests OK, errors %+v, connection failures %d (%s)",
			what, rep.OK, requests, rep.Errors, rep.ConnFailures, rep.FirstConnError)
	}
	t.Logf("%s: %d requests through %s, 0 errors, p99 %.0f µs", what, rep.OK, addr, rep.Latency.P99)
	return rep
}

// query asks one synthetic key through the proxy at addr and checks the value.
func query(ctx context.Context, cl *client.Client, addr string, k int) error {
	kv := state.AppendKeyAndNamespace(nil, state.Int, int32(k), state.Void, state.VoidNamespace{})
	content, err := cl.GetKvState(ctx, addr, syntheticJob, dataset.SyntheticState, state.Int.HashCode(int32(k)), kv)
	if err != nil {
		return err
	}
	want := state.Bytes.Append(nil, dataset.SyntheticValue(nil, k, testValueSize))
	if string(content) != string(want) {
		return fmt.Errorf("key %d: wrong value %x, want %x", k, content, want)
	}
	return nil
}

// TestThreeNodesOnEtcd is the demonstration on a real etcd: three
// nodes answer every key through node 1; node 3 is killed and, once its
// lease ends, its keys fail fast while the others keep answering; node 3
// comes back under the same name; etcd goes away and nothing fails; a
// fourth node takes over part of node 3's range, and no request is
// answered by a node that no longer holds the key group.
func TestThreeNodesOnEtcd(t *testing.T) {
	etcd := etcdtest.Start(t)
	ep := etcd.Endpoint()
	ranges := []registry.KeyGroupRange{{Start: 0, End: 42}, {Start: 43, End: 85}, {Start: 86, End: 127}}
	nodes := []*testNode{
		startNode(t, ep, "n1", ranges[0]),
		startNode(t, ep, "n2", ranges[1]),
		startNode(t, ep, "n3", ranges[2]),
	}
	for _, n := range nodes {
		waitFor(t, waitTimeout, n.name+" to see three nodes covering every key group", func() bool { return viewIs(n, "n1", "n2", "n3") })
	}
	proxy1 := nodes[0].proxy.Addr().String()
	verifyAll(t, "three nodes", proxy1, 20000)
	for _, n := range nodes {
		if n.st.getsIn(registry.KeyGroupRange{Start: 0, End: testMaxP - 1}) == 0 {
			t.Errorf("node %s answered nothing: the keys did not reach every node", n.name)
		}
	}

	// Kill node 3: its keys fail, fast once its lease is gone; the others keep answering.
	cl, err := client.New(client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var keys3, others []int
	for k := range testKeys {
		if ranges[2].Contains(keyGroupOf(k)) {
			keys3 = append(keys3, k)
		} else {
			others = append(others, k)
		}
	}
	killed := time.Now()
	nodes[2].stop(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var fastSince, slowest time.Duration
	var slowCount int
	var otherErrs []error
	for i := 0; fastSince == 0; i++ {
		if time.Since(killed) > testTTL+10*time.Second {
			t.Fatalf("node 3's keys still not failing with a location failure %v after the kill", time.Since(killed))
		}
		if err := query(ctx, cl, proxy1, others[i%len(others)]); err != nil {
			otherErrs = append(otherErrs, err)
		}
		start := time.Now()
		err := query(ctx, cl, proxy1, keys3[i%len(keys3)])
		if err == nil {
			t.Fatalf("node 3's key %d answered after node 3 was killed", keys3[i%len(keys3)])
		}
		if errors.Is(err, codec.ErrUnknownKvStateKeyGroupLocation) {
			fastSince = time.Since(killed)
		} else {
			slowest = max(slowest, time.Since(start)) // forwarded to the dead node: bounded retries
			slowCount++
		}
	}
	t.Logf("before node 3's lease ended: %d of its keys failed after the forwarder's bounded retries, the slowest in %v",
		slowCount, slowest.Round(time.Millisecond))
	t.Logf("node 3 killed: its keys fail with UnknownKvStateKeyGroupLocationException %v after the kill (TTL %v)", fastSince.Round(time.Millisecond), testTTL)
	if fastSince > testTTL+time.Second {
		t.Logf("note: later than TTL + 1 s (a loaded machine delays etcd's lease expiry)")
	}
	var lat []time.Duration
	for i := range 300 {
		if err := query(ctx, cl, proxy1, others[i%len(others)]); err != nil {
			otherErrs = append(otherErrs, err)
		}
		start := time.Now()
		err := query(ctx, cl, proxy1, keys3[i%len(keys3)])
		lat = append(lat, time.Since(start))
		if !errors.Is(err, codec.ErrUnknownKvStateKeyGroupLocation) {
			t.Fatalf("node 3's key %d after its lease ended: %v, want UnknownKvStateKeyGroupLocationException", keys3[i%len(keys3)], err)
		}
	}
	slices.Sort(lat)
	p99 := lat[len(lat)*99/100]
	t.Logf("node 3's keys after its lease ended: p50 %v, p99 %v, max %v over %d failures",
		lat[len(lat)/2], p99, lat[len(lat)-1], len(lat))
	if p99 > time.Second {
		t.Errorf("node 3's keys fail slowly: p99 %v (they should not be forwarded at all)", p99)
	}
	if len(otherErrs) > 0 {
		t.Fatalf("%d queries of the other nodes' keys failed while node 3 was down; first: %v", len(otherErrs), otherErrs[0])
	}

	// Node 3 comes back under the same name, on new ports, and takes its range back.
	nodes[2] = startNode(t, ep, "n3", ranges[2])
	for _, n := range nodes {
		waitFor(t, waitTimeout, n.name+" to see node 3 back", func() bool { return viewIs(n, "n1", "n2", "n3") })
	}
	verifyAll(t, "node 3 restarted", proxy1, 20000)

	// etcd goes away for longer than the TTL (so every lease keep-alive
	// gives up and the nodes must register again): the nodes keep serving
	// from their views.
	etcd.Stop()
	outage := time.Now()
	for time.Since(outage) < testTTL+time.Second {
		verifyAll(t, "etcd down", proxy1, 5000)
	}
	for _, n := range nodes {
		waitFor(t, waitTimeout, n.name+" to log the outage", func() bool { return strings.Contains(n.log.String(), "serving from the last view") })
	}
	etcd.Restart()
	for _, n := range nodes {
		waitFor(t, waitTimeout, n.name+" to register again", func() bool { return strings.Contains(n.log.String(), "etcd reachable again") })
	}
	verifyAll(t, "etcd back", proxy1, 10000)
	for _, n := range nodes {
		waitFor(t, waitTimeout, n.name+" to see the three nodes after the outage", func() bool { return viewIs(n, "n1", "n2", "n3") })
	}

	// A fourth node takes over key groups 107-127 from node 3 while load runs
	// through every proxy: no error, no wrong value.
	moved := registry.KeyGroupRange{Start: 107, End: 127}
	var wg sync.WaitGroup
	loadCtx, stopLoad := context.WithCancel(context.Background())
	loadErrs := make(chan error, 100)
	var queries atomic.Int64 // queries answered or failed
	for _, n := range nodes {
		wg.Add(1)
		go func(addr string) {
			defer wg.Done()
			for i := 0; loadCtx.Err() == nil; i++ {
				err := query(ctx, cl, addr, i%testKeys)
				queries.Add(1)
				if err != nil {
					select {
					case loadErrs <- err:
					default:
					}
				}
			}
		}(n.proxy.Addr().String())
	}
	n4 := startNode(t, ep, "n4", moved)
	waitFor(t, waitTimeout, "node 3 to release key groups 107-127", func() bool {
		return slices.Equal(nodes[2].localRanges(), []registry.KeyGroupRange{{Start: 86, End: 106}})
	})
	nodes = append(nodes, n4)
	for _, n := range nodes {
		waitFor(t, waitTimeout, n.name+" to see four nodes", func() bool { return viewIs(n, "n1", "n2", "n3", "n4") })
	}
	// A little load after the move, too: 200 more queries.
	after := queries.Load()
	waitFor(t, waitTimeout, "200 queries after the move", func() bool { return queries.Load() >= after+200 })
	stopLoad()
	wg.Wait()
	close(loadErrs)
	for err := range loadErrs {
		t.Errorf("a query failed while node 4 took over: %v", err)
	}
	if !strings.Contains(nodes[2].log.String(), "lost key groups to a newer claim") {
		t.Errorf("node 3 did not log that it lost the range:\n%s", nodes[2].log)
	}
	if got := nodes[2].member.Losses(); got != 1 {
		t.Errorf("node 3 lost %d ranges, want 1", got)
	}
	// From now on, no request for the moved key groups reaches node 3.
	before3, before4 := nodes[2].st.getsIn(moved), n4.st.getsIn(moved)
	for _, n := range nodes {
		verifyAll(t, "four nodes via "+n.name, n.proxy.Addr().String(), 5000)
	}
	if after := nodes[2].st.getsIn(moved); after != before3 {
		t.Errorf("node 3 answered %d requests for key groups %s after it released them", after-before3, moved)
	}
	if n4.st.getsIn(moved) == before4 {
		t.Errorf("node 4 answered no request for its key groups %s", moved)
	}
}
