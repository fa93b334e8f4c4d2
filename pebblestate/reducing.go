package pebblestate

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/qstate/qstate/state"
)

// readModifyWrite reads the value of key through the batch (ok false when
// there is none), lets f compute the new one, and writes it; it runs under
// the task's write lock, so writers of one state never interleave.
func readModifyWrite[V any](d *DB, key []byte, s state.Serializer[V], f func(old V, ok bool) V) error {
	return d.write(func(b *pebble.Batch) error {
		var old V
		raw, cl, err := b.Get(key)
		ok := err == nil
		switch {
		case ok:
			old, _, err = s.Read(raw)
			cl.Close()
			if err != nil {
				return fmt.Errorf("stored value does not deserialize: %w", err)
			}
		case !errors.Is(err, pebble.ErrNotFound):
			return err
		}
		return b.Set(key, s.Append(nil, f(old, ok)), nil)
	})
}

// ReducingState is a ReducingState on a DB: Add folds values into one per
// key and namespace with a state.ReduceFunc (a read, the reduce and a
// write under the task's write lock: the function must not call the DB).
// The stored value, the query's answer, is the reduced value's bytes.
type ReducingState[K, N, V any] struct {
	base[K, N]
	vs     state.Serializer[V]
	reduce state.ReduceFunc[V]
}

// NewReducingState returns the ReducingState name of d.
func NewReducingState[K, N, V any](d *DB, name string, ks state.KeySerializer[K], ns state.Serializer[N], vs state.Serializer[V], reduce state.ReduceFunc[V]) (*ReducingState[K, N, V], error) {
	if vs == nil || reduce == nil {
		return nil, fmt.Errorf("%w: nil value serializer or reduce function", ErrConfig)
	}
	s := &ReducingState[K, N, V]{vs: vs, reduce: reduce}
	if err := s.init(d, name, kindReducing, ks, ns); err != nil {
		return nil, err
	}
	return s, nil
}

// Get implements state.KvState (a copy; see AppendGet).
func (s *ReducingState[K, N, V]) Get(kn []byte) ([]byte, bool, error) { return get(s.AppendGet, kn) }

// AppendGet implements state.Appender: one Pebble Get, copied into dst.
func (s *ReducingState[K, N, V]) AppendGet(dst, kn []byte) ([]byte, bool, error) {
	return s.appendGet(dst, kn)
}

// Add folds v into the value of key in namespace n (the first value is
// stored as is).
func (s *ReducingState[K, N, V]) Add(key K, n N, v V) error {
	return readModifyWrite(s.d, s.taskKey(nil, key, n), s.vs, func(old V, ok bool) V {
		if !ok {
			return v
		}
		return s.reduce(old, v)
	})
}

// Value returns the reduced value of key in namespace n.
func (s *ReducingState[K, N, V]) Value(key K, n N) (V, bool, error) {
	return readValue(s.d, s.taskKey(nil, key, n), s.vs)
}

// Clear removes the value of key in namespace n.
func (s *ReducingState[K, N, V]) Clear(key K, n N) error {
	k := s.taskKey(nil, key, n)
	return s.d.write(func(b *pebble.Batch) error { return b.Delete(k, nil) })
}

// In returns s bound to namespace n.
func (s *ReducingState[K, N, V]) In(n N) ReducingIn[K, N, V] { return ReducingIn[K, N, V]{s, n} }

// Void returns s bound to the VoidNamespace; it panics unless N is VoidNamespace.
func (s *ReducingState[K, N, V]) Void() ReducingIn[K, N, V] { return s.In(mustVoid[N]()) }

// ReducingIn is a ReducingState bound to one namespace.
type ReducingIn[K, N, V any] struct {
	s *ReducingState[K, N, V]
	n N
}

// State returns the underlying ReducingState (to register it).
func (r ReducingIn[K, N, V]) State() *ReducingState[K, N, V] { return r.s }

// Add folds v into the value of key.
func (r ReducingIn[K, N, V]) Add(key K, v V) error { return r.s.Add(key, r.n, v) }

// Value returns the reduced value of key.
func (r ReducingIn[K, N, V]) Value(key K) (V, bool, error) { return r.s.Value(key, r.n) }

// Clear removes the value of key.
func (r ReducingIn[K, N, V]) Clear(key K) error { return r.s.Clear(key, r.n) }

// AggregatingState is an AggregatingState on a DB. The stored value, the
// query's answer, is the accumulator's bytes (as in Flink: the Java client
// calls getResult itself). The aggregate function runs under the task's
// write lock and must not call the DB.
type AggregatingState[K, N, IN, ACC, OUT any] struct {
	base[K, N]
	as  state.Serializer[ACC]
	agg state.AggregateFunction[IN, ACC, OUT]
}

// NewAggregatingState returns the AggregatingState name of d; as
// serializes the accumulator.
func NewAggregatingState[K, N, IN, ACC, OUT any](d *DB, name string, ks state.KeySerializer[K], ns state.Serializer[N], as state.Serializer[ACC], agg state.AggregateFunction[IN, ACC, OUT]) (*AggregatingState[K, N, IN, ACC, OUT], error) {
	if as == nil || agg == nil {
		return nil, fmt.Errorf("%w: nil accumulator serializer or aggregate function", ErrConfig)
	}
	s := &AggregatingState[K, N, IN, ACC, OUT]{as: as, agg: agg}
	if err := s.init(d, name, kindAggregating, ks, ns); err != nil {
		return nil, err
	}
	return s, nil
}

// Get implements state.KvState (a copy; see AppendGet).
func (s *AggregatingState[K, N, IN, ACC, OUT]) Get(kn []byte) ([]byte, bool, error) {
	return get(s.AppendGet, kn)
}

// AppendGet implements state.Appender: one Pebble Get, copied into dst.
func (s *AggregatingState[K, N, IN, ACC, OUT]) AppendGet(dst, kn []byte) ([]byte, bool, error) {
	return s.appendGet(dst, kn)
}

// Add adds in to the accumulator of key in namespace n, creating it first
// when there is none.
func (s *AggregatingState[K, N, IN, ACC, OUT]) Add(key K, n N, in IN) error {
	return readModifyWrite(s.d, s.taskKey(nil, key, n), s.as, func(acc ACC, ok bool) ACC {
		if !ok {
			acc = s.agg.CreateAccumulator()
		}
		return s.agg.Add(in, acc)
	})
}

// Result returns the result for the accumulator of key in namespace n.
func (s *AggregatingState[K, N, IN, ACC, OUT]) Result(key K, n N) (out OUT, ok bool, err error) {
	acc, ok, err := readValue(s.d, s.taskKey(nil, key, n), s.as)
	if ok && err == nil {
		out = s.agg.Result(acc)
	}
	return out, ok, err
}

// Clear removes the accumulator of key in namespace n.
func (s *AggregatingState[K, N, IN, ACC, OUT]) Clear(key K, n N) error {
	k := s.taskKey(nil, key, n)
	return s.d.write(func(b *pebble.Batch) error { return b.Delete(k, nil) })
}

// In returns s bound to namespace n.
func (s *AggregatingState[K, N, IN, ACC, OUT]) In(n N) AggregatingIn[K, N, IN, ACC, OUT] {
	return AggregatingIn[K, N, IN, ACC, OUT]{s, n}
}

// Void returns s bound to the VoidNamespace; it panics unless N is VoidNamespace.
func (s *AggregatingState[K, N, IN, ACC, OUT]) Void() AggregatingIn[K, N, IN, ACC, OUT] {
	return s.In(mustVoid[N]())
}

// AggregatingIn is an AggregatingState bound to one namespace.
type AggregatingIn[K, N, IN, ACC, OUT any] struct {
	s *AggregatingState[K, N, IN, ACC, OUT]
	n N
}

// State returns the underlying AggregatingState (to register it).
func (a AggregatingIn[K, N, IN, ACC, OUT]) State() *AggregatingState[K, N, IN, ACC, OUT] {
	return a.s
}

// Add adds in to the accumulator of key.
func (a AggregatingIn[K, N, IN, ACC, OUT]) Add(key K, in IN) error { return a.s.Add(key, a.n, in) }

// Result returns the result for the accumulator of key.
func (a AggregatingIn[K, N, IN, ACC, OUT]) Result(key K) (OUT, bool, error) {
	return a.s.Result(key, a.n)
}

// Clear removes the accumulator of key.
func (a AggregatingIn[K, N, IN, ACC, OUT]) Clear(key K) error { return a.s.Clear(key, a.n) }

// Compile-time checks: every state is a KvState, an Appender and Blocking.
var (
	_ state.Appender = (*ValueState[int32, state.VoidNamespace, int64])(nil)
	_ state.Appender = (*ListState[int32, state.VoidNamespace, int64])(nil)
	_ state.Appender = (*MapState[int32, state.VoidNamespace, string, int64])(nil)
	_ state.Appender = (*ReducingState[int32, state.VoidNamespace, int64])(nil)
	_ state.Appender = (*AggregatingState[int32, state.VoidNamespace, int64, int64, int64])(nil)
	_ state.Blocking = (*ValueState[int32, state.VoidNamespace, int64])(nil)
)
