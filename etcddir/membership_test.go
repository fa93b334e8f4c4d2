package etcddir

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/internal/etcdtest"
	"github.com/qstate/qstate/registry"
)

// TestRestartWithinTTL: a node killed and restarted under the same name
// before its lease ends replaces its earlier claims (new KvStateIDs, new
// addresses) at once, and every key answers through its peer.
func TestRestartWithinTTL(t *testing.T) {
	etcd := etcdtest.Start(t)
	a := startNode(t, etcd.Endpoint(), "a", kgr(0, 63))
	b := startNode(t, etcd.Endpoint(), "b", kgr(64, 127))
	waitFor(t, waitTimeout, "a to see b", func() bool { return viewIs(a, "a", "b") })
	oldState := b.state.Addr().String()
	b.stop(t, true)
	b = startNode(t, etcd.Endpoint(), "b", kgr(64, 127))
	newState := b.state.Addr().String()
	waitFor(t, waitTimeout, "a to see b's new registration", func() bool {
		s, ok := a.member.View().State(syntheticJob, dataset.SyntheticState)
		if !ok || len(s.Claims) != 2 {
			return false // the old claim is deleted in the same transaction
		}
		m, _ := a.member.View().Member("b")
		return m.StateAddr == newState
	})
	if oldState == newState {
		t.Fatal("the restarted node got the same address; the test proves nothing")
	}
	s, _ := a.member.View().State(syntheticJob, dataset.SyntheticState)
	for _, c := range s.Claims {
		if c.Node == "b" && c.KeyGroups != kgr(64, 127) {
			t.Errorf("b's claim %v, want 64-127", c.KeyGroups)
		}
	}
	verifyAll(t, "b restarted within its TTL", a.proxy.Addr().String(), 5000)
	if b.st.getsIn(kgr(64, 127)) == 0 {
		t.Error("the restarted b answered nothing")
	}
}

// TestSyncPublishesNewRanges: a range the embedding task registers while
// the node runs is published (Sync), and one it unregisters is withdrawn;
// its peers follow.
func TestSyncPublishesNewRanges(t *testing.T) {
	etcd := etcdtest.Start(t)
	a := startNode(t, etcd.Endpoint(), "a", kgr(0, 63))
	b := startNode(t, etcd.Endpoint(), "b", kgr(64, 99))
	covered := func(n *testNode) []registry.KeyGroupRange {
		s, ok := n.member.View().State(syntheticJob, dataset.SyntheticState)
		if !ok {
			return nil
		}
		return s.Uncovered()
	}
	waitFor(t, waitTimeout, "a to see b", func() bool { return slices.Equal(covered(a), []registry.KeyGroupRange{kgr(100, 127)}) })
	part, err := dataset.SyntheticPart(testKeys, testValueSize, testMaxP, kgr(100, 127))
	if err != nil {
		t.Fatal(err)
	}
	id, err := b.reg.Register(syntheticJob, dataset.SyntheticState, kgr(100, 127), testMaxP, part)
	if err != nil {
		t.Fatal(err)
	}
	b.member.Sync()
	waitFor(t, waitTimeout, "a to see b's new range", func() bool { return covered(a) == nil })
	verifyAll(t, "after b's new range", a.proxy.Addr().String(), 5000)
	if err := b.reg.Unregister(id); err != nil {
		t.Fatal(err)
	}
	b.member.Sync()
	waitFor(t, waitTimeout, "a to see b's range withdrawn", func() bool { return slices.Equal(covered(a), []registry.KeyGroupRange{kgr(100, 127)}) })
}

// TestStartWithoutEtcd: a node whose etcd does not answer fails to start
// within the dial timeout, saying so.
func TestStartWithoutEtcd(t *testing.T) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Start(ctx, Config{Endpoints: []string{"http://127.0.0.1:1"}, Node: "a", ProxyAddr: "127.0.0.1:2",
		StateAddr: "127.0.0.1:3", Registry: registry.New(), DialTimeout: 300 * time.Millisecond})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Start without etcd: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Start took %v to fail (dial timeout 300ms)", d)
	}
	if !strings.Contains(err.Error(), "127.0.0.1:1") && !strings.Contains(err.Error(), "etcd") {
		t.Errorf("error does not say what failed: %v", err)
	}
}
