// Package state holds queryable keyed state: Flink-compatible serializers
// for the common key, value and namespace types, Java's hashCode of keys,
// Flink's KvStateSerializer content formats, and heap states (Value, List,
// Map, Reducing, Aggregating) that a task updates while queries read them.
//
// # Serializers and formats
//
// Int, Long, Short, Byte, Char, Boolean, Double, Float and String write
// exactly what Flink's TypeSerializers write (String is StringValue's
// varint-per-UTF-16-unit format, not UTF-8); their HashCode is the Java
// hashCode a client sends as keyHashCode. Bytes is byte[] (no HashCode: Java
// uses the identity hash). Tuple2Of / Tuple3Of combine key serializers,
// Tuple2Serializer / Tuple3Serializer any serializers. Void is the
// VoidNamespace; String also serves as a namespace. AppendKeyAndNamespace,
// AppendList / ReadList and AppendMap / AppendMapEntries / ReadMap are
// KvStateSerializer's formats; ReadKeyAndNamespace parses like Flink's
// server.
//
// # Heap states
//
// A task creates a state with its serializers, updates it, and registers it
// (package registry) under a queryable name:
//
//	clicks := state.NewValueState(state.String, state.Void, state.Long)
//	c := clicks.Void()        // namespace-free methods for VoidNamespace states
//	c.Update("alice", 3)
//	n, ok := c.Value("alice")
//	id, err := reg.Register(job, "clicks", kgr, maxP, clicks)
//
// Every state has methods taking (key, namespace, ...) — Update / Value /
// Clear, Add / AddAll / Elements, Put / PutAll / Remove / Lookup / Entries,
// Add / Value, Add / Result — and In(ns) binds a namespace; Void() binds the
// VoidNamespace (it panics on a state of another namespace type). Each state
// is a KvState: Get takes the serialized key and namespace a client sent
// and returns the serialized answer. Each is also a BatchGetter: GetBatch
// answers many keys at once, overlapping their memory misses (group
// prefetching; BenchmarkGetBatch).
//
// States kept elsewhere than the heap (package pebblestate, on disk) are
// KvStates too; they also implement Appender (their answer is copied into
// the caller's buffer, since it is not held in memory) and Blocking (their
// look-ups may wait on the disk, so the request handler runs them on its
// pool, never on an event loop).
//
// # What it must not do
//
// It knows nothing of the network, frames or the registry. Get must not
// allocate, lock, deserialize a hit, or wait for a writer. Nothing here
// logs or starts goroutines.
//
// # Ownership of byte slices
//
//   - Get's keyAndNamespace is the caller's; Get does not retain it.
//   - Get's answer is immutable and stays valid for as long as the caller
//     holds it; the caller must not modify it (its capacity is clipped, so
//     append copies).
//   - Append functions extend dst like append and retain nothing. Read and
//     ReadList / ReadMap return values the caller owns (strings and byte
//     slices are copies), never views into the input.
//
// # Goroutines
//
// Any number of goroutines may call Get (the request handler's pool) while
// any number of others mutate (the task runtime). Mutations of one key are
// serialized by that key's mutex; the typed read methods (Value, Elements,
// Lookup, Entries, Result) take it too; inserting or deleting a key also
// takes the state's structure mutex briefly. Reduce and aggregate functions
// and custom serializers run under the key's mutex: they must not call the
// same state for the same key. Flink's own heap backend is not safe under
// concurrent queries; these states are.
//
// # Design
//
// Each state is an open-addressing hash table (linear probing, maphash with
// a random seed) of entries keyed by the serialized key and namespace. An
// entry holds the typed state (for the task) and an atomic pointer to the
// published answer bytes. A writer builds new bytes and swaps the pointer
// (copy-on-write). Get hashes the bytes, probes the current slot array
// with atomic loads and loads the answer pointer: no lock, no write to
// shared memory, so readers scale with cores and never wait for writers.
// Deleted slots become tombstones (never nil again), so a probe cannot
// miss a present key; growing builds a new slot array and swaps it in.
// An entry is one allocation with a short key (up to 15 bytes, packed with
// its length into two words) and the answer its insert published, both in
// its first cache line (entries are padded to a multiple of 64 bytes, so
// they start on one): a look-up of such a key whose answer has not been
// replaced since reads the slot and that one line (a later answer is a
// blob of its own, one more line). BenchmarkLookupDesigns compares this
// with 32 RWMutex-guarded maps (the first design), one RWMutex, sync.Map
// and a copy-on-write snapshot of a Go map; BenchmarkGetBatch and
// BenchmarkTableMemory measure the layout (BENCHMARKS.md, "Flat table").
//
// # Invariants the tests cite
//
//   - I1: published bytes never change. Lists and maps append new elements
//     past the end of the newest published slice in place, which no reader
//     can see (every Update or re-serialization starts a fresh array);
//     nothing writes below a published length (TestListState, TestMapState,
//     TestConcurrent*).
//   - I2: an entry exists in the table only with an answer: a failing or
//     panicking reduce, aggregate or serializer leaves the state as it was
//     (TestPanickingReduceLeavesNoState). Empty lists and maps are no state.
//     Writers racing to create a key lose no update (TestConcurrentFirstAdds).
//   - I5: a key present in the table is found by every Get, whatever
//     inserts, deletes and resizes run meanwhile
//     (TestTableNeverMissesPresentKeys, TestTableProbeChains).
//   - I3: Get returns found=false and no error for well-formed bytes of an
//     absent key, ErrBadKeyAndNamespace for bytes that do not parse as
//     Flink's reader would, and allocates for neither nor for a hit
//     (TestGetBadKeyAndNamespace, TestGetDoesNotAllocate). Bytes Flink
//     accepts in a non-canonical form (redundant varint bytes, a Boolean
//     byte of 2, another NaN, a VoidNamespace byte other than 0) find the
//     same state, as in Flink, through an allocating slow path
//     (TestGetRecode).
//   - I4: every serializer writes Flink's bytes and reads them back
//     (TestVectors*, against the golden vectors).
package state
