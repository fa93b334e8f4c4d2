package cluster

import (
	"testing"

	"github.com/qstate/qstate/bufpool"
	"github.com/qstate/qstate/dataset"
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
	owner := registry.Owner{ID: id, Addr: node.state.Addr().String()}
	f := newForwarder(b, ForwarderConfig{})
	job, _ := registry.ParseJobID(dataset.SyntheticJobID)
	kv := state.AppendKeyAndNamespace(nil, state.Int, 7, state.Void, state.VoidNamespace{})
	name := []byte(dataset.SyntheticState)
	b.ReportAllocs()
	for b.Loop() {
		content, err := f.Forward(owner, job, name, 7, kv)
		if err != nil {
			b.Fatal(err)
		}
		bufpool.Put(content)
	}
}
