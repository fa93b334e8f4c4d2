package pebblestate

import (
	"github.com/cockroachdb/pebble/v2"

	"github.com/qstate/qstate/state"
)

// What the state kinds share: oneKey behind every kind but MapState,
// valueBase behind ValueState and ReducingState, and the namespace-bound
// view behind ValueIn, ListIn, MapIn, ReducingIn and AggregatingIn.

// oneKey is a state stored under one Pebble key per key and namespace
// (every kind but MapState, which stores an entry per user key): a query
// is one Pebble Get, a Clear one Delete.
type oneKey[K, N any] struct {
	base[K, N]
}

// Get implements state.KvState (a copy; see AppendGet).
func (s *oneKey[K, N]) Get(kn []byte) ([]byte, bool, error) { return get(s.AppendGet, kn) }

// AppendGet implements state.Appender: one Pebble Get (for a list,
// merged), copied into dst.
func (s *oneKey[K, N]) AppendGet(dst, kn []byte) ([]byte, bool, error) {
	return s.appendGet(dst, kn)
}

// Clear removes the state of key in namespace n.
func (s *oneKey[K, N]) Clear(key K, n N) error {
	k := s.taskKey(nil, key, n)
	return s.d.write(func(b *pebble.Batch) error { return b.Delete(k, nil) })
}

// valueBase is what ValueState and ReducingState share: one V per key and
// namespace, its serializer, and Value.
type valueBase[K, N, V any] struct {
	oneKey[K, N]
	vs state.Serializer[V]
}

// Value returns the value of key in namespace n; ok is false when there is none.
func (s *valueBase[K, N, V]) Value(key K, n N) (v V, ok bool, err error) {
	return readValue(s.d, s.taskKey(nil, key, n), s.vs)
}

// clearer is what bound needs of a state.
type clearer[K, N any] interface{ Clear(K, N) error }

// bound is a state S bound to one namespace: what ValueIn, ListIn, MapIn,
// ReducingIn and AggregatingIn share.
type bound[K, N any, S clearer[K, N]] struct {
	s S
	n N
}

// State returns the underlying state, the *ValueState, *ListState,
// *MapState, *ReducingState or *AggregatingState the view was made from
// (to register it).
func (b bound[K, N, S]) State() S { return b.s }

// Clear removes the state of key.
func (b bound[K, N, S]) Clear(key K) error { return b.s.Clear(key, b.n) }

// valueState is what boundValue needs of a state: ValueState's or
// ReducingState's methods.
type valueState[K, N, V any] interface {
	clearer[K, N]
	Value(K, N) (V, bool, error)
}

// boundValue is what ValueIn and ReducingIn share.
type boundValue[K, N, V any, S valueState[K, N, V]] struct {
	bound[K, N, S]
}

// bindValue returns s bound to namespace n.
func bindValue[K, N, V any, S valueState[K, N, V]](s S, n N) boundValue[K, N, V, S] {
	return boundValue[K, N, V, S]{bound[K, N, S]{s, n}}
}

// Value returns the value of key; ok is false when there is none.
func (b boundValue[K, N, V, S]) Value(key K) (V, bool, error) { return b.s.Value(key, b.n) }
