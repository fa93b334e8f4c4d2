package dataset

import (
	"bytes"
	"fmt"
	"math"

	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/state"
)

// The synthetic benchmark dataset: the same JobID, state name, keys and
// values as the golden `exchange` vectors (NKEYS=1000 VALUE_SIZE=8 there),
// so that Flink's own server and ours answer a benchmark identically.
const (
	// SyntheticJobID is the JobID the synthetic state is registered under.
	SyntheticJobID = "00112233445566778899aabbccddeeff"
	// SyntheticState is the queryable state name of the synthetic state.
	SyntheticState = "state"
	// SyntheticMaxParallelism is its number of key groups, all held here.
	SyntheticMaxParallelism = registry.DefaultMaxParallelism
	// DefaultSyntheticKeys is the default number of keys, 0..999 (the
	// golden exchanges' NKEYS; `qstate serve` and `qstate bench` default to it).
	DefaultSyntheticKeys = 1000
	// DefaultSyntheticValueSize is the default value size in bytes (the
	// golden exchanges' VALUE_SIZE).
	DefaultSyntheticValueSize = 8
)

// RegisterSynthetic registers, under SyntheticJobID and SyntheticState, a
// ValueState<byte[]> keyed by Java Integer 0..keys-1 (IntSerializer,
// VoidNamespace) whose value for key i is valueSize bytes, byte j being
// byte(i*31+j) (SyntheticValue); Flink serializes it with
// BytePrimitiveArraySerializer (an i32 length, then the bytes). The state
// owns all SyntheticMaxParallelism key groups. Find its KvStateID with
// SyntheticKvStateID.
func RegisterSynthetic(r *registry.Registry, keys, valueSize int) error {
	s, err := newSynthetic(keys, valueSize, func(int32) bool { return true })
	if err != nil {
		return err
	}
	return RegisterSyntheticState(r, s)
}

// SyntheticPart returns the part of the synthetic state a cluster node
// holds: RegisterSynthetic's ValueState<byte[]>, with only the keys
// 0..keys-1 whose key group lies in one of ranges, key groups counted as
// Flink routes an Integer key to an operator of maxParallelism key groups
// (registry.KeyGroupForHash of its Java hashCode). The caller registers it
// under SyntheticJobID and SyntheticState once per range (package cluster
// does, under the KvStateIDs of the cluster description).
func SyntheticPart(keys, valueSize, maxParallelism int, ranges ...registry.KeyGroupRange) (*state.ValueState[int32, state.VoidNamespace, []byte], error) {
	if maxParallelism < 1 || maxParallelism > registry.MaxParallelismUpperBound {
		return nil, fmt.Errorf("dataset: max parallelism %d not in 1..%d", maxParallelism, registry.MaxParallelismUpperBound)
	}
	return newSynthetic(keys, valueSize, func(k int32) bool {
		kg := registry.KeyGroupForHash(state.Int.HashCode(k), maxParallelism)
		for _, r := range ranges {
			if r.Contains(kg) {
				return true
			}
		}
		return false
	})
}

// newSynthetic returns the synthetic state holding the keys among
// 0..keys-1 that keep accepts.
func newSynthetic(keys, valueSize int, keep func(key int32) bool) (*state.ValueState[int32, state.VoidNamespace, []byte], error) {
	if keys < 0 || keys > math.MaxInt32 {
		return nil, fmt.Errorf("dataset: %d keys not in 0..%d", keys, math.MaxInt32)
	}
	if valueSize < 0 || valueSize > math.MaxInt32-4 {
		return nil, fmt.Errorf("dataset: value size %d not in 0..%d", valueSize, math.MaxInt32-4)
	}
	s := state.NewValueState(state.Int, state.Void, state.Bytes)
	v := s.Void()
	buf := make([]byte, 0, valueSize)
	for i := range keys {
		if keep(int32(i)) {
			v.Update(int32(i), SyntheticValue(buf[:0], i, valueSize))
		}
	}
	return s, nil
}

// SyntheticValue appends the synthetic value of key to dst and returns the
// extended slice: size bytes, byte j being byte(key*31+j). These are the
// byte[] value's bytes; the state's answer (the KvStateResponse content)
// is them after BytePrimitiveArraySerializer's i32 length.
func SyntheticValue(dst []byte, key, size int) []byte {
	base := syntheticBase(key)
	for j := range size {
		dst = append(dst, base+byte(j))
	}
	return dst
}

// syntheticBase is byte 0 of key's synthetic value: the one place the
// dataset's formula is written.
func syntheticBase(key int) byte { return byte(key * 31) }

// SyntheticValues checks values against the synthetic dataset of one value
// size without allocating: it holds the bytes 0, 1, ..., 255, 0, 1, ...
// (256+size of them), and key i's value is the size bytes starting at its
// first byte, so a check is one memory comparison (a load harness checks
// every answer this way). Read-only after NewSyntheticValues: safe for
// concurrent use.
type SyntheticValues []byte

// NewSyntheticValues returns the checker for values of size bytes.
func NewSyntheticValues(size int) SyntheticValues { return SyntheticValue(nil, 0, 256+size) }

// Value returns key's synthetic value: a view into v, not to be modified.
func (v SyntheticValues) Value(key int) []byte {
	base := int(syntheticBase(key))
	return v[base : base+len(v)-256 : base+len(v)-256]
}

// Equal reports whether b is the synthetic value of key.
func (v SyntheticValues) Equal(key int, b []byte) bool {
	return len(b) == len(v)-256 && bytes.Equal(b, v.Value(key))
}

// SyntheticKvStateID returns the KvStateID the synthetic state was
// registered under in r (for KvStateInternalRequests to the state-server
// port); false when RegisterSynthetic has not run on r.
func SyntheticKvStateID(r *registry.Registry) (registry.KvStateID, bool) {
	return kvStateIDOf(r, SyntheticJobID, SyntheticState)
}

// kvStateIDOf returns the KvStateID that owns key group 0 of (job, name).
func kvStateIDOf(r *registry.Registry, jobHex, name string) (registry.KvStateID, bool) {
	job, err := registry.ParseJobID(jobHex)
	if err != nil {
		return registry.KvStateID{}, false
	}
	loc, ok := r.Location(job, []byte(name))
	if !ok {
		return registry.KvStateID{}, false
	}
	o, ok := loc.Owner(0)
	return o.ID, ok && o.Local()
}
