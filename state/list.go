package state

import "slices"

// ListState is a heap ListState: a list of elements per key and namespace.
// Its answer to a query is Flink's list content (elements separated by one
// ListSeparator byte). An empty list is no state: Update with no elements
// clears it, as Flink does. Methods are safe for concurrent use.
//
// Add appends to the published bytes in place when their buffer has room
// (readers only ever see bytes below the length they were given, which no
// append touches), so a stream of Adds costs amortized O(element), not
// O(list).
type ListState[K, N, T any] struct {
	base[K, N, []T]
	es Serializer[T]
}

// NewListState returns an empty ListState with the given key, namespace and
// element serializers.
func NewListState[K, N, T any](ks KeySerializer[K], ns Serializer[N], es Serializer[T]) *ListState[K, N, T] {
	if es == nil {
		panic("state: nil element serializer")
	}
	s := &ListState[K, N, T]{es: es}
	s.init(ks, ns)
	return s
}

// Add appends v to the list of key in namespace n.
func (s *ListState[K, N, T]) Add(key K, n N, v T) {
	s.addAll(key, n, v)
}

// AddAll appends vs to the list of key in namespace n; no elements is a no-op.
func (s *ListState[K, N, T]) AddAll(key K, n N, vs []T) {
	s.addAll(key, n, vs...)
}

func (s *ListState[K, N, T]) addAll(key K, n N, vs ...T) {
	if len(vs) == 0 {
		return
	}
	kb := s.key(key, n)
	defer s.release(kb)
	s.mutate(kb,
		func(e *entry[[]T]) {
			// I1: the published slice is the longest ever published from its
			// array (every Update starts a fresh one), so appending past it
			// overwrites no byte a reader holds.
			buf := AppendList(append(e.pub.Load().b, ListSeparator), s.es, vs)
			e.data = append(e.data, vs...)
			e.pub.Store(&blob{b: buf})
		},
		func() ([]T, *blob, bool) { return slices.Clone(vs), &blob{b: AppendList(nil, s.es, vs)}, true })
}

// Update replaces the list of key in namespace n with vs (copied); an empty
// vs clears it.
func (s *ListState[K, N, T]) Update(key K, n N, vs []T) {
	if len(vs) == 0 {
		s.Clear(key, n)
		return
	}
	bl := &blob{b: AppendList(nil, s.es, vs)}
	elems := slices.Clone(vs)
	kb := s.key(key, n)
	defer s.release(kb)
	s.mutate(kb,
		func(e *entry[[]T]) { e.data = elems; e.pub.Store(bl) },
		func() ([]T, *blob, bool) { return elems, bl, true })
}

// Elements returns a copy of the list of key in namespace n (nil when there
// is none).
func (s *ListState[K, N, T]) Elements(key K, n N) (out []T) {
	kb := s.key(key, n)
	defer s.release(kb)
	s.read(kb, func(e *entry[[]T]) { out = slices.Clone(e.data) })
	return out
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
func (l ListIn[K, N, T]) Add(key K, v T) { l.s.Add(key, l.n, v) }

// AddAll appends vs to the list of key.
func (l ListIn[K, N, T]) AddAll(key K, vs []T) { l.s.AddAll(key, l.n, vs) }

// Update replaces the list of key; an empty vs clears it.
func (l ListIn[K, N, T]) Update(key K, vs []T) { l.s.Update(key, l.n, vs) }

// Elements returns a copy of the list of key.
func (l ListIn[K, N, T]) Elements(key K) []T { return l.s.Elements(key, l.n) }
