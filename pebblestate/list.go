package pebblestate

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/qstate/qstate/state"
)

// ListState is a ListState on a DB. The stored value is Flink's list
// content (elements separated by state.ListSeparator), built as Flink's
// RocksDB backend builds it: Add writes a merge operand, and Pebble's
// merge joins the operands with the separator, so appending never reads
// the list. An empty list is no state. Methods are safe for concurrent use.
type ListState[K, N, T any] struct {
	oneKey[K, N]
	es state.Serializer[T]
}

// NewListState returns the ListState name of d with the given key,
// namespace and element serializers.
func NewListState[K, N, T any](d *DB, name string, ks state.KeySerializer[K], ns state.Serializer[N], es state.Serializer[T]) (*ListState[K, N, T], error) {
	if es == nil {
		return nil, fmt.Errorf("%w: nil element serializer", ErrConfig)
	}
	s := &ListState[K, N, T]{es: es}
	if err := s.init(d, name, kindList, ks, ns); err != nil {
		return nil, err
	}
	return s, nil
}

// Add appends v to the list of key in namespace n.
func (s *ListState[K, N, T]) Add(key K, n N, v T) error {
	return s.AddAll(key, n, []T{v})
}

// AddAll appends vs to the list of key in namespace n; no elements is a no-op.
func (s *ListState[K, N, T]) AddAll(key K, n N, vs []T) error {
	if len(vs) == 0 {
		return nil
	}
	k := s.taskKey(nil, key, n)
	op := state.AppendList(nil, s.es, vs)
	return s.d.write(func(b *pebble.Batch) error { return b.Merge(k, op, nil) })
}

// Update replaces the list of key in namespace n with vs; an empty vs clears it.
func (s *ListState[K, N, T]) Update(key K, n N, vs []T) error {
	if len(vs) == 0 {
		return s.Clear(key, n)
	}
	k := s.taskKey(nil, key, n)
	val := state.AppendList(nil, s.es, vs)
	return s.d.write(func(b *pebble.Batch) error { return b.Set(k, val, nil) })
}

// Elements returns the list of key in namespace n (nil when there is none).
func (s *ListState[K, N, T]) Elements(key K, n N) (out []T, err error) {
	k := s.taskKey(nil, key, n)
	err = s.d.read(func(b *pebble.Batch) error {
		_, err := getStored(b, k, func(raw []byte) (err error) {
			if out, err = state.ReadList(s.es, raw); err != nil {
				return fmt.Errorf("pebblestate: stored list does not deserialize: %w", err)
			}
			return nil
		})
		return err
	})
	return out, err
}

// In returns s bound to namespace n.
func (s *ListState[K, N, T]) In(n N) ListIn[K, N, T] {
	return ListIn[K, N, T]{bound[K, N, *ListState[K, N, T]]{s, n}}
}

// Void returns s bound to the VoidNamespace; it panics unless N is VoidNamespace.
func (s *ListState[K, N, T]) Void() ListIn[K, N, T] { return s.In(mustVoid[N]()) }

// ListIn is a ListState bound to one namespace (see ListState.Void).
type ListIn[K, N, T any] struct {
	bound[K, N, *ListState[K, N, T]]
}

// Add appends v to the list of key.
func (l ListIn[K, N, T]) Add(key K, v T) error { return l.s.Add(key, l.n, v) }

// AddAll appends vs to the list of key.
func (l ListIn[K, N, T]) AddAll(key K, vs []T) error { return l.s.AddAll(key, l.n, vs) }

// Update replaces the list of key; an empty vs clears it.
func (l ListIn[K, N, T]) Update(key K, vs []T) error { return l.s.Update(key, l.n, vs) }

// Elements returns the list of key.
func (l ListIn[K, N, T]) Elements(key K) ([]T, error) { return l.s.Elements(key, l.n) }
