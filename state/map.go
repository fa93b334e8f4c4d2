package state

// MapState is a heap MapState: a map of user keys to user values per key
// and namespace. Its answer to a query is Flink's map content (per entry
// the user key, 0x00, the user value; order irrelevant). A map that becomes
// empty is no state, as in Flink's heap backend. Methods are safe for
// concurrent use.
//
// The published content is the entries' byte segments back to back; each
// entry knows its segment. Putting a new user key appends its segment in
// place (see ListState); replacing or removing one copies the bytes around
// its segment into a new buffer (memcpy, no re-serialization of the other
// entries).
type MapState[K, N any, UK comparable, UV any] struct {
	base[K, N, *mapData[UK, UV]]
	uks Serializer[UK]
	uvs Serializer[UV]
}

// mapEnt is one user entry and its segment [off, off+n) in the published
// content; pos is its index in mapData.ents.
type mapEnt[UK comparable, UV any] struct {
	uk          UK
	uv          UV
	off, n, pos int
}

// mapData is the typed state of one key: ents in content order (segments
// contiguous), idx by user key.
type mapData[UK comparable, UV any] struct {
	idx  map[UK]*mapEnt[UK, UV]
	ents []*mapEnt[UK, UV]
}

// NewMapState returns an empty MapState with the given key, namespace,
// user-key and user-value serializers.
func NewMapState[K, N any, UK comparable, UV any](ks KeySerializer[K], ns Serializer[N], uks Serializer[UK], uvs Serializer[UV]) *MapState[K, N, UK, UV] {
	if uks == nil || uvs == nil {
		panic("state: nil user key or user value serializer")
	}
	s := &MapState[K, N, UK, UV]{uks: uks, uvs: uvs}
	s.init(ks, ns)
	return s
}

func (s *MapState[K, N, UK, UV]) appendSeg(dst []byte, uk UK, uv UV) []byte {
	dst = s.uks.Append(dst, uk)
	dst = append(dst, 0)
	return s.uvs.Append(dst, uv)
}

// Put sets user key uk to uv in the map of key in namespace n.
func (s *MapState[K, N, UK, UV]) Put(key K, n N, uk UK, uv UV) {
	kb := s.key(key, n)
	defer s.release(kb)
	s.mutate(kb,
		func(e *entry[*mapData[UK, UV]]) { s.put(e, uk, uv) },
		func() (*mapData[UK, UV], *blob, bool) {
			buf := s.appendSeg(nil, uk, uv)
			me := &mapEnt[UK, UV]{uk: uk, uv: uv, n: len(buf)}
			return &mapData[UK, UV]{idx: map[UK]*mapEnt[UK, UV]{uk: me}, ents: []*mapEnt[UK, UV]{me}}, &blob{b: buf}, true
		})
}

// put sets uk in the existing map of e, whose mu is held.
func (s *MapState[K, N, UK, UV]) put(e *entry[*mapData[UK, UV]], uk UK, uv UV) {
	d, old := e.data, e.pub.Load().b
	me := d.idx[uk]
	if me == nil {
		// I1: old is the longest slice ever published from its array.
		buf := s.appendSeg(old, uk, uv)
		me = &mapEnt[UK, UV]{uk: uk, uv: uv, off: len(old), n: len(buf) - len(old), pos: len(d.ents)}
		d.idx[uk] = me
		d.ents = append(d.ents, me)
		e.pub.Store(&blob{b: buf})
		return
	}
	// Replace: old bytes before the segment, the new segment, old bytes after.
	buf := make([]byte, 0, len(old)+16)
	buf = append(buf, old[:me.off]...)
	buf = s.appendSeg(buf, uk, uv)
	newN := len(buf) - me.off
	buf = append(buf, old[me.off+me.n:]...)
	if delta := newN - me.n; delta != 0 {
		for _, x := range d.ents[me.pos+1:] {
			x.off += delta
		}
	}
	me.uv, me.n = uv, newN
	e.pub.Store(&blob{b: buf})
}

// PutAll sets every entry of m in the map of key in namespace n.
func (s *MapState[K, N, UK, UV]) PutAll(key K, n N, m map[UK]UV) {
	for uk, uv := range m {
		s.Put(key, n, uk, uv)
	}
}

// Remove deletes user key uk from the map of key in namespace n; removing
// the last entry clears the state.
func (s *MapState[K, N, UK, UV]) Remove(key K, n N, uk UK) {
	kb := s.key(key, n)
	defer s.release(kb)
	s.read(kb, func(e *entry[*mapData[UK, UV]]) {
		d := e.data
		me := d.idx[uk]
		if me == nil {
			return
		}
		if len(d.ents) == 1 {
			s.t.remove(e)
			return
		}
		old := e.pub.Load().b
		buf := make([]byte, 0, len(old)-me.n)
		buf = append(buf, old[:me.off]...)
		buf = append(buf, old[me.off+me.n:]...)
		d.ents = append(d.ents[:me.pos], d.ents[me.pos+1:]...)
		d.ents[len(d.ents):cap(d.ents)][0] = nil // drop the stale pointer past the end
		for _, x := range d.ents[me.pos:] {
			x.off -= me.n
			x.pos--
		}
		delete(d.idx, uk)
		e.pub.Store(&blob{b: buf})
	})
}

// Lookup returns the value of user key uk in the map of key in namespace n.
func (s *MapState[K, N, UK, UV]) Lookup(key K, n N, uk UK) (uv UV, ok bool) {
	kb := s.key(key, n)
	defer s.release(kb)
	s.read(kb, func(e *entry[*mapData[UK, UV]]) {
		if me := e.data.idx[uk]; me != nil {
			uv, ok = me.uv, true
		}
	})
	return uv, ok
}

// Entries returns a copy of the map of key in namespace n (nil when there
// is none).
func (s *MapState[K, N, UK, UV]) Entries(key K, n N) (out map[UK]UV) {
	kb := s.key(key, n)
	defer s.release(kb)
	s.read(kb, func(e *entry[*mapData[UK, UV]]) {
		out = make(map[UK]UV, len(e.data.ents))
		for _, me := range e.data.ents {
			out[me.uk] = me.uv
		}
	})
	return out
}

// In returns s bound to namespace n.
func (s *MapState[K, N, UK, UV]) In(n N) MapIn[K, N, UK, UV] {
	return MapIn[K, N, UK, UV]{bound[K, N, *MapState[K, N, UK, UV]]{s, n}}
}

// Void returns s bound to the VoidNamespace; it panics unless N is VoidNamespace.
func (s *MapState[K, N, UK, UV]) Void() MapIn[K, N, UK, UV] { return s.In(mustVoid[N]()) }

// MapIn is a MapState bound to one namespace (see MapState.Void).
type MapIn[K, N any, UK comparable, UV any] struct {
	bound[K, N, *MapState[K, N, UK, UV]]
}

// Put sets user key uk to uv in the map of key.
func (m MapIn[K, N, UK, UV]) Put(key K, uk UK, uv UV) { m.s.Put(key, m.n, uk, uv) }

// PutAll sets every entry of entries in the map of key.
func (m MapIn[K, N, UK, UV]) PutAll(key K, entries map[UK]UV) { m.s.PutAll(key, m.n, entries) }

// Remove deletes user key uk from the map of key.
func (m MapIn[K, N, UK, UV]) Remove(key K, uk UK) { m.s.Remove(key, m.n, uk) }

// Lookup returns the value of user key uk in the map of key.
func (m MapIn[K, N, UK, UV]) Lookup(key K, uk UK) (UV, bool) { return m.s.Lookup(key, m.n, uk) }

// Entries returns a copy of the map of key.
func (m MapIn[K, N, UK, UV]) Entries(key K) map[UK]UV { return m.s.Entries(key, m.n) }
