package etcddir

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/qstate/qstate/cluster"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/internal/qstatetest"
	"github.com/qstate/qstate/node"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/server"
	"github.com/qstate/qstate/state"
)

const (
	testKeys      = 1000
	testValueSize = 8
	testMaxP      = 128
	testTTL       = 2 * time.Second
	waitTimeout   = 20 * time.Second
)

var syntheticJob = func() registry.JobID {
	j, err := registry.ParseJobID(dataset.SyntheticJobID)
	if err != nil {
		panic(err)
	}
	return j
}()

// keyGroupOf is the key group of synthetic key k.
func keyGroupOf(k int) int {
	return registry.KeyGroupForHash(state.Int.HashCode(int32(k)), testMaxP)
}

// countingState is a KvState that counts the Gets of each key group.
type countingState struct {
	state.KvState
	gets [testMaxP]atomic.Int64
}

func (c *countingState) Get(kv []byte) ([]byte, bool, error) {
	if len(kv) >= 4 {
		c.gets[keyGroupOf(int(int32(binary.BigEndian.Uint32(kv))))].Add(1)
	}
	return c.KvState.Get(kv)
}

// getsIn sums the Gets of the key groups of r.
func (c *countingState) getsIn(r registry.KeyGroupRange) int64 {
	var n int64
	for kg := r.Start; kg <= r.End; kg++ {
		n += c.gets[kg].Load()
	}
	return n
}

// testNode is one qstate node in process: registry with the synthetic keys
// of its ranges, a node.Node serving it on free loopback ports (with the
// Forwarder it creates from the cluster's directory), and its membership in
// etcd.
type testNode struct {
	name         string
	reg          *registry.Registry
	st           *countingState
	node         *node.Node
	proxy, state *server.Server
	member       *Node
	log          *qstatetest.Buffer

	stopOnce sync.Once
}

// startNode starts a node holding ranges of the synthetic state and
// registers it in the cluster at endpoint; stopped at cleanup.
func startNode(t testing.TB, endpoint, name string, ranges ...registry.KeyGroupRange) *testNode {
	t.Helper()
	n := &testNode{name: name, reg: registry.New(), log: &qstatetest.Buffer{}}
	part, err := dataset.SyntheticPart(testKeys, testValueSize, testMaxP, ranges...)
	if err != nil {
		t.Fatal(err)
	}
	n.st = &countingState{KvState: part}
	for _, r := range ranges {
		if _, err := n.reg.Register(syntheticJob, dataset.SyntheticState, r, testMaxP, n.st); err != nil {
			t.Fatal(err)
		}
	}
	dir := &cluster.LateDirectory{} // set once the node is a member
	// More attempts than the default: a range moving between nodes costs a
	// retry or two while the views catch up, and the CI machine is slow.
	n.node, err = node.New(n.reg, node.Config{ProxyAddr: "127.0.0.1:0", StateAddr: "127.0.0.1:0",
		Server: server.Config{EventLoops: 1}, Directory: dir, ForwardAttempts: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.stop(t, false) })
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := n.node.Start(ctx); err != nil {
		t.Fatalf("node %s: Start: %v", name, err)
	}
	n.proxy, n.state = n.node.Servers()
	n.member, err = Start(ctx, Config{Endpoints: []string{endpoint}, Cluster: "test", Node: name,
		ProxyAddr: n.proxy.Addr().String(), StateAddr: n.state.Addr().String(), Registry: n.reg,
		TTL: testTTL, SyncInterval: 200 * time.Millisecond, DialTimeout: 2 * time.Second,
		Logger: zerolog.New(n.log)})
	if err != nil {
		t.Fatalf("node %s: Start: %v", name, err)
	}
	dir.Set(n.member)
	return n
}

// stop shuts the node down, the member leaving first; crash leaves its
// lease to expire (as a killed process does) instead of revoking it.
func (n *testNode) stop(t testing.TB, crash bool) {
	n.stopOnce.Do(func() {
		if n.member != nil {
			if crash {
				n.member.crash()
			} else if err := n.member.Close(); err != nil {
				t.Errorf("node %s: Close: %v", n.name, err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), qstatetest.Timeout)
		defer cancel()
		// ErrNodeClosed: a Start that failed has shut the node down.
		if err := n.node.Shutdown(ctx); err != nil && !errors.Is(err, node.ErrNodeClosed) {
			t.Errorf("node %s: Shutdown: %v", n.name, err)
		}
	})
}

// localRanges lists the key groups the node's registry holds itself.
func (n *testNode) localRanges() []registry.KeyGroupRange {
	var out []registry.KeyGroupRange
	for _, r := range n.reg.Registrations() {
		if r.State != nil {
			out = append(out, r.KeyGroups)
		}
	}
	sortRanges(out)
	return out
}

// waitFor waits until cond holds, failing the test with what after
// timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	qstatetest.Eventually(t, timeout, cond, what)
}

// viewIs reports whether n's view has exactly the members names and every
// key group of the synthetic state served.
func viewIs(n *testNode, names ...string) bool {
	v := n.member.View()
	if len(v.Members) != len(names) {
		return false
	}
	for i, m := range v.Members {
		if m.Name != names[i] {
			return false
		}
	}
	s, ok := v.State(syntheticJob, dataset.SyntheticState)
	return ok && s.Uncovered() == nil
}

// rangesString formats ranges for messages.
func rangesString(rs []registry.KeyGroupRange) string {
	var b strings.Builder
	for i, r := range rs {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(r.String())
	}
	return b.String()
}
