package dataset

import (
	"bytes"
	"fmt"
	"math"
	"strconv"

	"github.com/qstate/qstate/pebblestate"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/state"
)

// syntheticMark is the store record that says the synthetic dataset is
// fully written, and with which keys and value size.
const syntheticMark = "dataset/synthetic"

// SyntheticStore is the synthetic state in a Pebble store.
type SyntheticStore = pebblestate.ValueState[int32, state.VoidNamespace, []byte]

// OpenSynthetic returns the synthetic dataset (RegisterSynthetic's
// ValueState<byte[]>, same keys and values) held in db, writing it first
// unless db already holds it with these keys and value size: written
// reports whether it did. The writes are committed in batches and flushed,
// then the store records that the dataset is complete, so that a writer
// interrupted midway starts over. db must have SyntheticMaxParallelism key
// groups; a store holding the dataset with other parameters is an error
// (use another data directory).
func OpenSynthetic(db *pebblestate.DB, keys, valueSize int) (s *SyntheticStore, written bool, err error) {
	if keys < 0 || keys > math.MaxInt32 {
		return nil, false, fmt.Errorf("dataset: %d keys not in 0..%d", keys, math.MaxInt32)
	}
	if valueSize < 0 || valueSize > math.MaxInt32-4 {
		return nil, false, fmt.Errorf("dataset: value size %d not in 0..%d", valueSize, math.MaxInt32-4)
	}
	if db.MaxParallelism() != SyntheticMaxParallelism {
		return nil, false, fmt.Errorf("dataset: the store has %d key groups, the synthetic state %d", db.MaxParallelism(), SyntheticMaxParallelism)
	}
	s, err = pebblestate.NewValueState(db, SyntheticState, state.Int, state.Void, state.Bytes)
	if err != nil {
		return nil, false, fmt.Errorf("dataset: %w", err)
	}
	want := []byte("keys=" + strconv.Itoa(keys) + " valueSize=" + strconv.Itoa(valueSize))
	have, ok, err := db.Mark(syntheticMark)
	switch {
	case err != nil:
		return nil, false, fmt.Errorf("dataset: %w", err)
	case ok && bytes.Equal(have, want):
		return s, false, nil
	case ok:
		return nil, false, fmt.Errorf("dataset: the store holds the synthetic dataset with %s, not %s: use another data directory", have, want)
	}
	v := s.Void()
	buf := make([]byte, 0, valueSize)
	for i := range keys {
		if err := v.Update(int32(i), SyntheticValue(buf[:0], i, valueSize)); err != nil {
			return nil, false, fmt.Errorf("dataset: write key %d: %w", i, err)
		}
	}
	if err := db.Flush(); err != nil {
		return nil, false, fmt.Errorf("dataset: %w", err)
	}
	if err := db.SetMark(syntheticMark, want); err != nil {
		return nil, false, fmt.Errorf("dataset: %w", err)
	}
	if err := db.Flush(); err != nil {
		return nil, false, fmt.Errorf("dataset: %w", err)
	}
	return s, true, nil
}

// RegisterSyntheticState registers s, a synthetic state of another
// backend (OpenSynthetic), under SyntheticJobID and SyntheticState as
// RegisterSynthetic registers the heap one: all key groups held here.
func RegisterSyntheticState(r *registry.Registry, s state.KvState) error {
	job, err := registry.ParseJobID(SyntheticJobID)
	if err != nil {
		return err
	}
	all := registry.KeyGroupRange{Start: 0, End: SyntheticMaxParallelism - 1}
	if _, err := r.Register(job, SyntheticState, all, SyntheticMaxParallelism, s); err != nil {
		return fmt.Errorf("dataset: register synthetic state: %w", err)
	}
	return nil
}
