package pebblestate

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/qstate/qstate/state"
)

// readValue reads the value of key through the task's batch with s; ok is
// false when there is none.
func readValue[V any](d *DB, key []byte, s state.Serializer[V]) (v V, ok bool, err error) {
	err = d.read(func(b *pebble.Batch) error {
		_, err := getStored(b, key, func(raw []byte) (err error) {
			if v, _, err = s.Read(raw); err != nil {
				return fmt.Errorf("pebblestate: stored value does not deserialize: %w", err)
			}
			ok = true
			return nil
		})
		return err
	})
	return v, ok, err
}

// getStored calls fn with the bytes stored under key, as the task's batch
// b sees them; raw is valid only during fn. found is false, and fn not
// called, when there are none.
func getStored(b *pebble.Batch, key []byte, fn func(raw []byte) error) (found bool, err error) {
	raw, cl, err := b.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("pebblestate: read: %w", err)
	}
	defer cl.Close()
	return true, fn(raw)
}

// ValueState is a ValueState on a DB: one value per key and namespace,
// stored in Flink's serialized form, so a query copies the stored bytes.
// Methods are safe for concurrent use; writes go to the task's batch and
// queries see them once committed (DB.Commit).
type ValueState[K, N, V any] struct {
	valueBase[K, N, V]
}

// NewValueState returns the ValueState name of d, empty or as the store
// holds it, with the given key, namespace and value serializers.
func NewValueState[K, N, V any](d *DB, name string, ks state.KeySerializer[K], ns state.Serializer[N], vs state.Serializer[V]) (*ValueState[K, N, V], error) {
	if vs == nil {
		return nil, fmt.Errorf("%w: nil value serializer", ErrConfig)
	}
	s := new(ValueState[K, N, V])
	s.vs = vs
	if err := s.init(d, name, kindValue, ks, ns); err != nil {
		return nil, err
	}
	return s, nil
}

// Update sets the value of key in namespace n.
func (s *ValueState[K, N, V]) Update(key K, n N, v V) error {
	k := s.taskKey(nil, key, n)
	val := s.vs.Append(nil, v)
	return s.d.write(func(b *pebble.Batch) error { return b.Set(k, val, nil) })
}

// In returns s bound to namespace n.
func (s *ValueState[K, N, V]) In(n N) ValueIn[K, N, V] {
	return ValueIn[K, N, V]{bindValue[K, N, V](s, n)}
}

// Void returns s bound to the VoidNamespace; it panics unless N is VoidNamespace.
func (s *ValueState[K, N, V]) Void() ValueIn[K, N, V] { return s.In(mustVoid[N]()) }

// ValueIn is a ValueState bound to one namespace (see ValueState.Void).
type ValueIn[K, N, V any] struct {
	boundValue[K, N, V, *ValueState[K, N, V]]
}

// Update sets the value of key.
func (v ValueIn[K, N, V]) Update(key K, val V) error { return v.s.Update(key, v.n, val) }

// mustVoid returns the zero N and panics unless N is VoidNamespace (a
// programming error, as with the heap states).
func mustVoid[N any]() N {
	var n N
	if _, ok := any(n).(state.VoidNamespace); !ok {
		panic(fmt.Sprintf("pebblestate: Void() on a state whose namespace type is %T, not VoidNamespace", n))
	}
	return n
}
