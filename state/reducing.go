package state

// ReduceFunc combines two values into one (Flink's ReduceFunction): acc is
// the current value, v the one added. It runs under the key's writer lock:
// it must not call back into the same state for the same key.
type ReduceFunc[V any] func(acc, v V) V

// ReducingState is a heap ReducingState: Add folds values into one per key
// and namespace with a ReduceFunc. Its answer to a query is the reduced
// value's bytes. Methods are safe for concurrent use.
type ReducingState[K, N, V any] struct {
	valueBase[K, N, V]
	reduce ReduceFunc[V]
}

// NewReducingState returns an empty ReducingState.
func NewReducingState[K, N, V any](ks KeySerializer[K], ns Serializer[N], vs Serializer[V], reduce ReduceFunc[V]) *ReducingState[K, N, V] {
	if vs == nil || reduce == nil {
		panic("state: nil value serializer or reduce function")
	}
	s := &ReducingState[K, N, V]{reduce: reduce}
	s.vs = vs
	s.init(ks, ns)
	return s
}

// Add folds v into the value of key in namespace n (the first value is
// stored as is).
func (s *ReducingState[K, N, V]) Add(key K, n N, v V) {
	s.fold(key, n, s.vs, func() V { return v }, func(acc V) V { return s.reduce(acc, v) })
}

// In returns s bound to namespace n.
func (s *ReducingState[K, N, V]) In(n N) ReducingIn[K, N, V] {
	return ReducingIn[K, N, V]{bindValue[K, N, V](s, n)}
}

// Void returns s bound to the VoidNamespace; it panics unless N is VoidNamespace.
func (s *ReducingState[K, N, V]) Void() ReducingIn[K, N, V] { return s.In(mustVoid[N]()) }

// ReducingIn is a ReducingState bound to one namespace (see ReducingState.Void).
type ReducingIn[K, N, V any] struct {
	boundValue[K, N, V, *ReducingState[K, N, V]]
}

// Add folds v into the value of key.
func (r ReducingIn[K, N, V]) Add(key K, v V) { r.s.Add(key, r.n, v) }
