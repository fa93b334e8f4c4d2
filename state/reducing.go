package state

// ReduceFunc combines two values into one (Flink's ReduceFunction): acc is
// the current value, v the one added. It runs under the key's writer lock:
// it must not call back into the same state for the same key.
type ReduceFunc[V any] func(acc, v V) V

// ReducingState is a heap ReducingState: Add folds values into one per key
// and namespace with a ReduceFunc. Its answer to a query is the reduced
// value's bytes. Methods are safe for concurrent use.
type ReducingState[K, N, V any] struct {
	b      base[K, N, V]
	vs     Serializer[V]
	reduce ReduceFunc[V]
}

// NewReducingState returns an empty ReducingState.
func NewReducingState[K, N, V any](ks KeySerializer[K], ns Serializer[N], vs Serializer[V], reduce ReduceFunc[V]) *ReducingState[K, N, V] {
	if vs == nil || reduce == nil {
		panic("state: nil value serializer or reduce function")
	}
	s := &ReducingState[K, N, V]{vs: vs, reduce: reduce}
	s.b.init(ks, ns)
	return s
}

// Get implements KvState.
func (s *ReducingState[K, N, V]) Get(keyAndNamespace []byte) ([]byte, bool, error) {
	return s.b.get(keyAndNamespace)
}

// GetBatch implements BatchGetter: Get for every key of ls, their memory
// misses overlapped.
func (s *ReducingState[K, N, V]) GetBatch(ls []Lookup) { s.b.getBatch(ls) }

// Add folds v into the value of key in namespace n (the first value is
// stored as is).
func (s *ReducingState[K, N, V]) Add(key K, n N, v V) {
	kb := s.b.key(key, n)
	defer s.b.release(kb)
	s.b.mutate(kb,
		func(e *entry[V]) {
			r := s.reduce(e.data, v)
			bl := newBlob(s.vs, r)
			e.data = r
			e.pub.Store(bl)
		},
		func() (V, *blob, bool) { return v, newBlob(s.vs, v), true })
}

// Value returns the reduced value of key in namespace n.
func (s *ReducingState[K, N, V]) Value(key K, n N) (v V, ok bool) {
	kb := s.b.key(key, n)
	defer s.b.release(kb)
	ok = s.b.read(kb, func(e *entry[V]) { v = e.data })
	return v, ok
}

// Clear removes the value of key in namespace n.
func (s *ReducingState[K, N, V]) Clear(key K, n N) { s.b.clear(key, n) }

// Len returns the number of keys and namespaces with a value.
func (s *ReducingState[K, N, V]) Len() int { return s.b.t.len() }

// In returns s bound to namespace n.
func (s *ReducingState[K, N, V]) In(n N) ReducingIn[K, N, V] { return ReducingIn[K, N, V]{s, n} }

// Void returns s bound to the VoidNamespace; it panics unless N is VoidNamespace.
func (s *ReducingState[K, N, V]) Void() ReducingIn[K, N, V] { return s.In(mustVoid[N]()) }

// ReducingIn is a ReducingState bound to one namespace (see ReducingState.Void).
type ReducingIn[K, N, V any] struct {
	s *ReducingState[K, N, V]
	n N
}

// State returns the underlying ReducingState (to register it).
func (r ReducingIn[K, N, V]) State() *ReducingState[K, N, V] { return r.s }

// Add folds v into the value of key.
func (r ReducingIn[K, N, V]) Add(key K, v V) { r.s.Add(key, r.n, v) }

// Value returns the reduced value of key.
func (r ReducingIn[K, N, V]) Value(key K) (V, bool) { return r.s.Value(key, r.n) }

// Clear removes the value of key.
func (r ReducingIn[K, N, V]) Clear(key K) { r.s.Clear(key, r.n) }
