package state

// What the heap states share: the methods every one of them has (Get,
// GetBatch, Clear, Len, on base), the fold behind ReducingState.Add and
// AggregatingState.Add, valueBase behind ValueState and ReducingState, and
// the namespace-bound view behind ValueIn, ListIn, MapIn, ReducingIn and
// AggregatingIn.

// Get implements KvState.
func (b *base[K, N, E]) Get(keyAndNamespace []byte) ([]byte, bool, error) {
	return b.get(keyAndNamespace)
}

// GetBatch implements BatchGetter: Get for every key of ls, their memory
// misses overlapped.
func (b *base[K, N, E]) GetBatch(ls []Lookup) { b.getBatch(ls) }

// Clear removes the state of key in namespace n.
func (b *base[K, N, E]) Clear(key K, n N) { b.clear(key, n) }

// Len returns the number of keys and namespaces with a state (a value, a
// non-empty list or map, an accumulator).
func (b *base[K, N, E]) Len() int { return b.t.len() }

// fold sets the state of key in namespace n to next(old), or to first()
// when there is none, and publishes its serialization with s. first and
// next run under the key's writer lock (first may run again, see mutate).
func (b *base[K, N, E]) fold(key K, n N, s Serializer[E], first func() E, next func(old E) E) {
	kb := b.key(key, n)
	defer b.release(kb)
	b.mutate(kb,
		func(e *entry[E]) {
			v := next(e.data)
			bl := newBlob(s, v)
			e.data = v
			e.pub.Store(bl)
		},
		func() (E, *blob, bool) {
			v := first()
			return v, newBlob(s, v), true
		})
}

// valueBase is what ValueState and ReducingState share: one V per key and
// namespace, its serializer, and Value.
type valueBase[K, N, V any] struct {
	base[K, N, V]
	vs Serializer[V]
}

// Value returns the value of key in namespace n; ok is false when there is none.
func (s *valueBase[K, N, V]) Value(key K, n N) (v V, ok bool) {
	kb := s.key(key, n)
	defer s.release(kb)
	ok = s.read(kb, func(e *entry[V]) { v = e.data })
	return v, ok
}

// clearer is what bound needs of a state.
type clearer[K, N any] interface{ Clear(K, N) }

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
func (b bound[K, N, S]) Clear(key K) { b.s.Clear(key, b.n) }

// valueState is what boundValue needs of a state: ValueState's or
// ReducingState's methods.
type valueState[K, N, V any] interface {
	clearer[K, N]
	Value(K, N) (V, bool)
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
func (b boundValue[K, N, V, S]) Value(key K) (V, bool) { return b.s.Value(key, b.n) }
