package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/qstate/qstate/bufpool"
	"github.com/qstate/qstate/client"
	"github.com/qstate/qstate/cluster"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/internal/servertest"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/state"
)

// BenchmarkForward forwards a look-up of one synthetic key to a real state
// server on loopback: one round trip per op (the client's, the state
// server's and the Forwarder's costs together).
func BenchmarkForward(b *testing.B) {
	node := startTestNode(b, "bench", nil)
	if err := dataset.RegisterSynthetic(node.reg, e2eKeys, e2eValueSize); err != nil {
		b.Fatal(err)
	}
	id, _ := dataset.SyntheticKvStateID(node.reg)
	owner := registry.Owner{ID: id, Addr: node.state}
	f, err := cluster.NewForwarder(cluster.ForwarderConfig{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = f.Close() })
	job, _ := registry.ParseJobID(dataset.SyntheticJobID)
	kv := state.AppendKeyAndNamespace(nil, state.Int, 7, state.Void, state.VoidNamespace{})
	name := []byte(dataset.SyntheticState)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a deadline, as the handler's
	defer cancel()
	b.ReportAllocs()
	for b.Loop() {
		content, err := f.Forward(ctx, owner, job, name, 7, kv)
		if err != nil {
			b.Fatal(err)
		}
		bufpool.Put(content)
	}
}

// BenchmarkProxy asks node n0 of a 2-node cluster for keys it holds
// (local) and for keys n1 holds (forwarded), from 16 callers per CPU on
// one pipelined client connection: the cost of a forward under load.
func BenchmarkProxy(b *testing.B) {
	tc := startCluster(b, 2)
	addr := tc.nodes[0].proxy
	for _, bc := range []struct {
		name  string
		owner int
	}{{"local", 0}, {"forwarded", 1}} {
		var keys []int32
		for k := int32(0); k < e2eKeys; k++ {
			if tc.owner(k) == bc.owner {
				keys = append(keys, k)
			}
		}
		b.Run(bc.name, func(b *testing.B) {
			cl := servertest.NewClient(b)
			ctx := context.Background()
			b.ReportAllocs()
			b.SetParallelism(16) // 16 callers per CPU: requests pipeline, batches form
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					k := keys[i%len(keys)]
					i++
					if _, err := client.GetValue(ctx, cl, addr, tc.job, dataset.SyntheticState, state.Int, k, state.Bytes); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
