// Package etcddir keeps a qstate cluster's membership and key-group
// locations in etcd: a cluster that changes while it serves. Each node
// registers under a lease with its proxy and state-server addresses and
// publishes, for every local registration of its registry, a claim: (job,
// state name, max parallelism, key-group range, KvStateID). A node that
// stops (Close revokes the lease) or dies (the lease ends after its TTL)
// disappears with everything it published.
//
// Every node watches the cluster's prefix and keeps a View, rebuilt after
// each watch response, so updates apply in revision order. The request path
// never calls etcd: Node is a cluster.Directory answering from the View
// (the Forwarder's stale-location retry), and the other nodes' key groups
// are recorded in the node's registry as remote registrations, which the
// handler's proxy path reads.
//
// # Keys
//
//	/qstate/<cluster>/members/<node>      {"proxy": "host:port", "state": "host:port"}
//	/qstate/<cluster>/claims/<node>/<id>  {"job": "<32 hex>", "name": "...", "maxParallelism": N, "keyGroups": "start-end"}
//
// # Rules
//
//   - A claim counts while its node's member record lives (both go with
//     the lease).
//   - Of two claims on a key group the newer wins: the one whose key etcd
//     created at the higher revision. The newest claim of a state fixes its
//     max parallelism; older claims with another one lose whole.
//   - A node whose published claim lost key groups logs it and releases
//     them: it unregisters the range, or replaces it with what is left of it
//     under a new KvStateID (so that a peer with an older view is told
//     UnknownKvStateIdException and asks again instead of being answered by
//     a node that no longer holds the key group), and publishes that.
//   - A node registering (at start, or after its lease was lost) deletes
//     its name's other claims (those of an earlier process), so that a node
//     restarted under the same name takes its ranges back. A claim that
//     already exists keeps its creation revision: re-registering after an
//     etcd outage does not make it newer.
//   - The registry changes in one step per view (registry.Replace): a
//     look-up never finds a moved key group without an owner.
//   - When etcd is unreachable, the node keeps serving from its last View
//     and logs it; when its lease keep-alive gives up (no answer within the
//     TTL) it registers again, with a new lease, as soon as etcd answers.
//
// # What it must not do
//
// It does not serve, forward or decode frames, and calls etcd only from
// Start, Close and its own goroutine.
//
// # Goroutines
//
// Start runs on its caller's goroutine and starts one goroutine that owns
// the watch, the lease keep-alive and every registry change the node
// makes; Close stops it. View, Owner, Sync and Losses are safe from any
// goroutine and never block. ReadView is a plain function of its caller's
// goroutine. A View is immutable and may be kept.
//
// # Ownership of byte slices
//
// Nothing is retained from callers: Owner's name is read during the call.
//
// # Invariants the tests cite
//
//   - E1: three nodes answer every key through any proxy; a killed node's
//     keys fail at once with UnknownKvStateKeyGroupLocationException once
//     its lease ends; a restarted node takes its ranges back; an etcd outage
//     longer than the TTL costs no request; a node taking over a range gets
//     its requests, and the old owner none after releasing it, with no
//     error on the way (TestThreeNodesOnEtcd).
//   - E2: of overlapping claims the newest wins per key group; pieces are
//     disjoint and ordered (TestBuildView).
//   - E3: records from etcd are hostile: bad ones are refused, never a
//     panic (TestParseRecord, FuzzParseRecord).
package etcddir
