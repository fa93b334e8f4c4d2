package state

// ValueState is a heap ValueState: one value per key and namespace. Its
// answer to a query is the value's bytes (Flink's ValueState,
// ImmutableValueState on the client). Methods are safe for concurrent use.
type ValueState[K, N, V any] struct {
	valueBase[K, N, V]
}

// NewValueState returns an empty ValueState with the given key, namespace
// and value serializers.
func NewValueState[K, N, V any](ks KeySerializer[K], ns Serializer[N], vs Serializer[V]) *ValueState[K, N, V] {
	if vs == nil {
		panic("state: nil value serializer")
	}
	s := new(ValueState[K, N, V])
	s.vs = vs
	s.init(ks, ns)
	return s
}

// Update sets the value of key in namespace n.
func (s *ValueState[K, N, V]) Update(key K, n N, v V) {
	bl := newBlob(s.vs, v) // serialize before taking any lock
	kb := s.key(key, n)
	defer s.release(kb)
	s.mutate(kb,
		func(e *entry[V]) { e.data = v; e.pub.Store(bl) },
		func() (V, *blob, bool) { return v, bl, true })
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
func (v ValueIn[K, N, V]) Update(key K, val V) { v.s.Update(key, v.n, val) }
