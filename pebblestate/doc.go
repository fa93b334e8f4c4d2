// Package pebblestate holds keyed states on disk, in a Pebble database (Go's
// counterpart of the RocksDB that Flink's production state backend uses):
// Value, List, Map, Reducing and Aggregating states with the typed methods
// of package state's heap states (each returning an error too, as a disk
// can fail), and the same query side (state.KvState), so a task switches
// backend by constructor:
//
//	db, err := pebblestate.Open(dir, pebblestate.Options{})
//	clicks, err := pebblestate.NewValueState(db, "clicks", state.String, state.Void, state.Long)
//	err = clicks.Void().Update("alice", 3)
//	err = db.Commit()                      // queries see committed writes
//	id, err := reg.Register(job, "clicks", kgr, db.MaxParallelism(), clicks)
//
// # Layout
//
// One database holds all of a task's states. A stored key is Flink's
// RocksDB composite key behind a two-byte state ID (Flink has a column
// family per state): key group (1 byte up to 128 key groups, else 2),
// serialized key, serialized namespace, and for a map entry the serialized
// user key. Values are Flink's serialized bytes: a value, reduced value or
// accumulator as its serializer writes it; a list as Flink's list content
// (Add is a Pebble merge that joins operands with ',', Flink's
// StringAppendOperator); a map entry as 0x00 and the user value (Flink's
// null-flagged map value). So a value look-up is one Pebble Get copied into
// the answer, and a map's answer is one range scan copying each entry's
// user key and stored value. State names, kinds and IDs, the max
// parallelism and a format version are records of the store itself
// (keys under state ID 0).
//
// # What it must not do
//
// It knows nothing of the network or the registry. A query (Get,
// AppendGet) must not deserialize a hit or take the task's write lock.
// Open must refuse, with an error wrapping ErrDataDir and never a panic, a
// directory that is not a store of this format. Nothing here logs except
// through Options.Logger, or starts goroutines beyond Pebble's own.
//
// # Ownership of byte slices
//
//   - Get's and AppendGet's keyAndNamespace are the caller's, not retained.
//   - AppendGet appends a copy of the stored bytes to the caller's dst
//     (Pebble's buffer is released before it returns): the answer is the
//     caller's. Get returns a fresh copy.
//   - Values given to the typed methods are serialized at once; nothing is
//     retained.
//
// # Goroutines
//
// Any number of goroutines may query (Get, AppendGet: they read committed
// data through Pebble, which may wait on the disk: MayBlock is true, so
// the request handler runs them on its pool) while any number of others
// use the typed methods. The typed methods share one write lock guarding
// the task's indexed write batch (the task reads its own uncommitted
// writes); a ReduceFunc or AggregateFunction runs under it and must not
// call the DB. Commit, Flush, Checkpoint and Close may be called from any
// goroutine; Close waits for running queries, after which queries fail
// with ErrClosed.
//
// # Durability
//
// Writes go to the task's batch; Commit applies it (also when it reaches
// Options.BatchBytes). As in Flink's RocksDB backend the WAL is off by
// default: committed writes survive a crash once flushed (Flush, Close,
// Checkpoint, or Pebble's own memtable flushes); Options.WAL turns it on.
// After a crash the store opens and every key holds a value written to it
// (TestKillDuringWrites).
//
// # Invariants the tests cite
//
//   - P1: after the same operations, every state kind answers a query with
//     the heap state's bytes (maps: the same entries' bytes, in user-key
//     order) (TestModelAgainstHeap), and the golden vectors' values, lists
//     and maps are answered byte for byte (TestVectors*).
//   - P2: a value look-up allocates nothing with a reused dst
//     (TestAppendGetDoesNotAllocate).
//   - P3: reopening a store answers what was committed and flushed,
//     before anything is written (TestReopen, TestCheckpoint).
//   - P4: a foreign, corrupt or mismatched directory is an ErrDataDir
//     error at Open (TestOpenBadDirectories).
//   - P5: a read error fails that look-up with an error, the DB stays
//     usable (TestReadFault).
package pebblestate
