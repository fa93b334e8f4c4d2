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
	valueBase[K, N, V]
	reduce state.ReduceFunc[V]
}

// NewReducingState returns the ReducingState name of d.
func NewReducingState[K, N, V any](d *DB, name string, ks state.KeySerializer[K], ns state.Serializer[N], vs state.Serializer[V], reduce state.ReduceFunc[V]) (*ReducingState[K, N, V], error) {
	if vs == nil || reduce == nil {
		return nil, fmt.Errorf("%w: nil value serializer or reduce function", ErrConfig)
	}
	s := &ReducingState[K, N, V]{reduce: reduce}
	s.vs = vs
	if err := s.init(d, name, kindReducing, ks, ns); err != nil {
		return nil, err
	}
	return s, nil
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

// In returns s bound to namespace n.
func (s *ReducingState[K, N, V]) In(n N) ReducingIn[K, N, V] {
	return ReducingIn[K, N, V]{bindValue[K, N, V](s, n)}
}

// Void returns s bound to the VoidNamespace; it panics unless N is VoidNamespace.
func (s *ReducingState[K, N, V]) Void() ReducingIn[K, N, V] { return s.In(mustVoid[N]()) }

// ReducingIn is a ReducingState bound to one namespace.
type ReducingIn[K, N, V any] struct {
	boundValue[K, N, V, *ReducingState[K, N, V]]
}

// Add folds v into the value of key.
func (r ReducingIn[K, N, V]) Add(key K, v V) error { return r.s.Add(key, r.n, v) }

// AggregatingState is an AggregatingState on a DB. The stored value, the
// query's answer, is the accumulator's bytes (as in Flink: the Java client
// calls getResult itself). The aggregate function runs under the task's
// write lock and must not call the DB.
type AggregatingState[K, N, IN, ACC, OUT any] struct {
	oneKey[K, N]
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

// In returns s bound to namespace n.
func (s *AggregatingState[K, N, IN, ACC, OUT]) In(n N) AggregatingIn[K, N, IN, ACC, OUT] {
	return AggregatingIn[K, N, IN, ACC, OUT]{bound[K, N, *AggregatingState[K, N, IN, ACC, OUT]]{s, n}}
}

// Void returns s bound to the VoidNamespace; it panics unless N is VoidNamespace.
func (s *AggregatingState[K, N, IN, ACC, OUT]) Void() AggregatingIn[K, N, IN, ACC, OUT] {
	return s.In(mustVoid[N]())
}

// AggregatingIn is an AggregatingState bound to one namespace.
type AggregatingIn[K, N, IN, ACC, OUT any] struct {
	bound[K, N, *AggregatingState[K, N, IN, ACC, OUT]]
}

// Add adds in to the accumulator of key.
func (a AggregatingIn[K, N, IN, ACC, OUT]) Add(key K, in IN) error { return a.s.Add(key, a.n, in) }

// Result returns the result for the accumulator of key.
func (a AggregatingIn[K, N, IN, ACC, OUT]) Result(key K) (OUT, bool, error) {
	return a.s.Result(key, a.n)
}

// Compile-time checks: every state is a KvState, an Appender and Blocking.
var (
	_ state.Appender = (*ValueState[int32, state.VoidNamespace, int64])(nil)
	_ state.Appender = (*ListState[int32, state.VoidNamespace, int64])(nil)
	_ state.Appender = (*MapState[int32, state.VoidNamespace, string, int64])(nil)
	_ state.Appender = (*ReducingState[int32, state.VoidNamespace, int64])(nil)
	_ state.Appender = (*AggregatingState[int32, state.VoidNamespace, int64, int64, int64])(nil)
	_ state.Blocking = (*ValueState[int32, state.VoidNamespace, int64])(nil)
)
