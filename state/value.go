package state

// ValueState is a heap ValueState: one value per key and namespace. Its
// answer to a query is the value's bytes (Flink's ValueState,
// ImmutableValueState on the client). Methods are safe for concurrent use.
type ValueState[K, N, V any] struct {
	b  base[K, N, V]
	vs Serializer[V]
}

// NewValueState returns an empty ValueState with the given key, namespace
// and value serializers.
func NewValueState[K, N, V any](ks KeySerializer[K], ns Serializer[N], vs Serializer[V]) *ValueState[K, N, V] {
	if vs == nil {
		panic("state: nil value serializer")
	}
	s := &ValueState[K, N, V]{vs: vs}
	s.b.init(ks, ns)
	return s
}

// Get implements KvState.
func (s *ValueState[K, N, V]) Get(keyAndNamespace []byte) ([]byte, bool, error) {
	return s.b.get(keyAndNamespace)
}

// GetBatch implements BatchGetter: Get for every key of ls, their memory
// misses overlapped.
func (s *ValueState[K, N, V]) GetBatch(ls []Lookup) { s.b.getBatch(ls) }

// Update sets the value of key in namespace n.
func (s *ValueState[K, N, V]) Update(key K, n N, v V) {
	bl := newBlob(s.vs, v) // serialize before taking any lock
	kb := s.b.key(key, n)
	defer s.b.release(kb)
	s.b.mutate(kb,
		func(e *entry[V]) { e.data = v; e.pub.Store(bl) },
		func() (V, *blob, bool) { return v, bl, true })
}

// Value returns the value of key in namespace n; ok is false when there is none.
func (s *ValueState[K, N, V]) Value(key K, n N) (v V, ok bool) {
	kb := s.b.key(key, n)
	defer s.b.release(kb)
	ok = s.b.read(kb, func(e *entry[V]) { v = e.data })
	return v, ok
}

// Clear removes the value of key in namespace n.
func (s *ValueState[K, N, V]) Clear(key K, n N) { s.b.clear(key, n) }

// Len returns the number of keys and namespaces with a value.
func (s *ValueState[K, N, V]) Len() int { return s.b.t.len() }

// In returns s bound to namespace n.
func (s *ValueState[K, N, V]) In(n N) ValueIn[K, N, V] { return ValueIn[K, N, V]{s, n} }

// Void returns s bound to the VoidNamespace; it panics unless N is VoidNamespace.
func (s *ValueState[K, N, V]) Void() ValueIn[K, N, V] { return s.In(mustVoid[N]()) }

// ValueIn is a ValueState bound to one namespace (see ValueState.Void).
type ValueIn[K, N, V any] struct {
	s *ValueState[K, N, V]
	n N
}

// State returns the underlying ValueState (to register it).
func (v ValueIn[K, N, V]) State() *ValueState[K, N, V] { return v.s }

// Update sets the value of key.
func (v ValueIn[K, N, V]) Update(key K, val V) { v.s.Update(key, v.n, val) }

// Value returns the value of key; ok is false when there is none.
func (v ValueIn[K, N, V]) Value(key K) (V, bool) { return v.s.Value(key, v.n) }

// Clear removes the value of key.
func (v ValueIn[K, N, V]) Clear(key K) { v.s.Clear(key, v.n) }
