// Package registry is the node's KvStateRegistry: it gives each registered
// state a random KvStateID, maps KvStateIDs to states (for the state-server
// port) and (job, state name) to Locations that tell, per key group, which
// KvStateID owns it and whether it is here or on another node (for the
// proxy port). It also holds Flink's key-group arithmetic
// (KeyGroupRangeAssignment and MathUtils.murmurHash) and the text forms of
// its IDs and key-group ranges (ParseJobID, ParseKvStateID,
// ParseKeyGroupRange).
//
// A task registers each local key-group range of a state:
//
//	kgr := registry.KeyGroupRangeFor(maxP, parallelism, subtask)
//	id, err := reg.Register(job, "clicks", kgr, maxP, clicks)
//	defer reg.Unregister(id)
//
// and a cluster layer records ranges held elsewhere with RegisterRemote
// and its own ranges, under KvStateIDs its peers know in advance, with
// RegisterWithID.
// The proxy path is Location(job, name) -> KeyGroup(keyHash) -> Owner; the
// state-server path is KvState(id) -> Get.
//
// Registration rules follow Flink's KvStateLocationRegistry: the first
// registration of a (job, name) fixes its number of key groups (the max
// parallelism); a later one with another max parallelism
// (ErrMaxParallelismMismatch) or with key groups that overlap registered
// ones (ErrNameClash) fails; ranges must lie in [0, maxParallelism)
// (ErrBadKeyGroupRange); unregistering the last range removes the name.
//
// # What it must not do
//
// It does not serialize values or know the wire format, and it does no
// I/O. Look-ups must not lock or allocate.
//
// # Ownership of byte slices
//
// Location's name is the caller's (a view into a request); it is not
// retained. Locations returned are immutable and may be kept.
//
// # Goroutines
//
// Any goroutine may call anything. Look-ups (KvState, Location, Owner)
// load one atomic pointer to an immutable snapshot and never wait;
// Register, RegisterWithID, RegisterRemote and Unregister serialize on a
// mutex, copy what they change (one of 256 ID maps, the job's name map)
// and publish a new snapshot.
//
// # Invariants the tests cite
//
//   - I1: a published snapshot or Location never changes; a reader sees
//     each registration wholly or not at all (TestConcurrentLookups,
//     TestRegisterAndLookup).
//   - I2: a failed registration changes nothing (TestRegistrationRules).
//   - I3: look-ups allocate nothing (TestLookupsDoNotAllocate).
//   - I4: murmur, key groups and key-group ranges equal Flink's
//     (TestVectors*, TestProtocol*).
package registry
