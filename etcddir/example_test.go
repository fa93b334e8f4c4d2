package etcddir_test

import (
	"context"
	"log"
	"sync/atomic"

	"github.com/qstate/qstate/etcddir"
	"github.com/qstate/qstate/node"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/state"
)

// directory is the etcd membership once the node's ports are bound (the
// addresses it publishes are those).
type directory struct{ atomic.Pointer[etcddir.Node] }

func (d *directory) Owner(ctx context.Context, job registry.JobID, name string, keyHash int32) (registry.Owner, error) {
	return d.Load().Owner(ctx, job, name, keyHash)
}

// An embedding task registers its states for its key-group range as
// always, serves them with a node, and joins a cluster kept in etcd: the
// node then forwards requests for the other nodes' key groups, and theirs
// come here.
func Example() {
	ctx := context.Background()
	reg := registry.New()
	job, _ := registry.ParseJobID("00112233445566778899aabbccddeeff")
	clicks := state.NewValueState(state.String, state.Void, state.Long)
	kgr := registry.KeyGroupRangeFor(128, 3, 0) // subtask 0 of 3: key groups 0-42
	if _, err := reg.Register(job, "clicks", kgr, 128, clicks); err != nil {
		log.Fatal(err)
	}

	dir := &directory{}
	n, err := node.New(reg, node.Config{ProxyAddr: "127.0.0.1:9069", StateAddr: "127.0.0.1:9067", Directory: dir})
	if err != nil {
		log.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		log.Fatal(err)
	}
	proxy, stateAddr := n.Addrs()
	member, err := etcddir.Start(ctx, etcddir.Config{Endpoints: []string{"http://127.0.0.1:2379"}, Cluster: "clicks",
		Node: "task-0", ProxyAddr: proxy.String(), StateAddr: stateAddr.String(), Registry: reg})
	if err != nil {
		log.Fatal(err)
	}
	dir.Store(member)

	// ... the task runs; a range it registers or unregisters later is
	// published within a second, or at once after member.Sync().

	_ = member.Close() // leave first: peers stop forwarding here
	_ = n.Shutdown(ctx)
}
