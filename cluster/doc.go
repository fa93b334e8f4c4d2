// Package cluster lets several qstate nodes serve one set of queryable
// states, each node holding some key groups, as Flink's TaskManagers do:
// any node's proxy port answers any key, forwarding to the owner's
// state-server port the requests for key groups it does not hold.
//
// It has four parts:
//
//   - The cluster description (Cluster, Parse, Load, Validate, Encode): a
//     small JSON file naming the nodes with their proxy and state-server
//     addresses and, for each (job, state name), its max parallelism (the
//     number of key groups) and which node holds which key-group range
//     (see "File format" below).
//
//   - KvStateIDs: a proxy must know the KvStateID of a peer's range to send
//     it a KvStateInternalRequest. A range's ID is the one the file names
//     (kvStateId), or else derived from (job, name, max parallelism, range,
//     node) by DeriveKvStateID, so that every node computes the same IDs
//     from the same file without talking to its peers.
//
//   - Apply, which registers a node's view of the description in its
//     registry: its own ranges with their local states under their IDs
//     (registry.RegisterWithID), the others as remote registrations at
//     their owners' state-server addresses (registry.RegisterRemote).
//
//   - Forwarding: Forwarder (a handler.Forwarder) sends the
//     KvStateInternalRequest with a client.Client and returns the answer or
//     the peer's failure unchanged. On a stale location
//     (UnknownKvStateIdException, UnknownKvStateKeyGroupLocationException,
//     a connection that fails or breaks) it asks a Directory for the owner
//     again and retries with exponential backoff, at most MaxAttempts times
//     before the request's deadline (the ctx the handler gives Forward),
//     then fails with a *ForwardError (Flink retries at
//     once and without limit). Directory is the location oracle, declared
//     here where it is used: Static and FileDirectory answer from a
//     description (FileDirectory re-reads its file when it changes);
//     etcddir.Node answers from etcd; LateDirectory answers through one set
//     after the node's ports listen (ErrNoDirectory until then), for a
//     directory that needs the bound addresses.
//
// # File format
//
//	{
//	  "format": 1,
//	  "nodes": [
//	    {"name": "a", "proxy": "127.0.0.1:9069", "state": "127.0.0.1:9067"},
//	    {"name": "b", "proxy": "127.0.0.1:9169", "state": "127.0.0.1:9167"}
//	  ],
//	  "states": [
//	    {"job": "00112233445566778899aabbccddeeff", "name": "state", "maxParallelism": 128,
//	     "ranges": [
//	       {"node": "a", "keyGroups": "0-63"},
//	       {"node": "b", "keyGroups": "64-127", "kvStateId": "0123456789abcdef0123456789abcdef"}
//	     ]}
//	  ]
//	}
//
// "format" may be left out (1). Addresses are host:port with a host peers
// can dial (no wildcard) and a numeric port. "keyGroups" is "start-end",
// both inclusive, or one key group. "kvStateId" is optional (32 hex
// digits). Unknown fields are errors, so that a typo cannot silently drop
// a range. Validation reports every problem at once, each a *FieldError
// naming its field ("states[0].ranges[1].keyGroups"). Key groups no range
// covers have no owner (State.Uncovered lists them); queries for them get
// UnknownKvStateKeyGroupLocationException.
//
// # What it must not do
//
// It does not serve, listen or decode frames (package handler and server
// do), does not hold state, and does not change a node's registry after
// Apply: a Forwarder's re-resolved owner serves the request at hand only.
//
// # Ownership of byte slices
//
// Forward reads name and keyAndNamespace during the call only. The content
// it returns is the caller's, from bufpool (the client's); the caller may
// give it to bufpool.Put. A Cluster returned by Parse, Load or a directory
// must not be modified; one given to NewStatic neither.
//
// # Goroutines
//
// Forward runs on the caller's goroutine (a handler pool worker or one of
// its forwarding helpers) and blocks until the answer, a failure, or
// Timeout; any number run at once. The client it uses runs two goroutines
// per peer connection. Directories are safe for concurrent use. Parse,
// Load, Validate and Apply are plain
// functions of their caller's goroutine.
//
// # Invariants the tests cite
//
//   - K1: a valid description has unique node names and addresses, and per
//     state a max parallelism in [1, 32768] and disjoint ranges inside it
//     naming listed nodes; every violation is reported with its field
//     (TestParseErrors).
//   - K2: every node derives the same KvStateID for a range, and distinct
//     ranges get distinct IDs (TestDeriveKvStateID).
//   - K3: through any node's proxy, every key answers its value and a
//     missing key UnknownKeyOrNamespaceException (TestClusterServesEveryKey).
//   - K4: a stale location is retried after re-resolving, at most
//     MaxAttempts times, with backoff, before the request's deadline; any
//     other failure is
//     relayed unchanged (TestForwardRetries*, TestForwardDeadOwnerBounded,
//     TestForwardRelaysOtherFailures, TestClusterRangeMoved).
//   - K5: a dead node's keys fail with a clear error before the caller's
//     deadline while the other keys keep working (TestClusterNodeDown); a
//     peer that never answers costs a request its deadline, never more
//     (TestForwardTimeout, TestForwardHonoursRequestDeadline).
//   - K6: in steady state a forwarded request costs the Forwarder and its
//     client no allocation (TestForwardDoesNotAllocate).
package cluster
