package pebblestate

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/qstate/qstate/state"
)

// MapState is a MapState on a DB: one stored entry per user key, under the
// state's key, namespace and serialized user key, holding Flink's
// null-flagged value (0x00, then the serialized user value), so a query's
// answer, Flink's map content, is each entry's user key and stored value
// back to back: one range scan, no deserialization. Entries come in the
// order of their serialized user keys (Flink's readers build a HashMap:
// order is irrelevant to them). A map with no entries is no state.
// Methods are safe for concurrent use.
type MapState[K, N any, UK comparable, UV any] struct {
	base[K, N]
	uks state.Serializer[UK]
	uvs state.Serializer[UV]
}

// NewMapState returns the MapState name of d with the given key,
// namespace, user-key and user-value serializers.
func NewMapState[K, N any, UK comparable, UV any](d *DB, name string, ks state.KeySerializer[K], ns state.Serializer[N], uks state.Serializer[UK], uvs state.Serializer[UV]) (*MapState[K, N, UK, UV], error) {
	if uks == nil || uvs == nil {
		return nil, fmt.Errorf("%w: nil user key or user value serializer", ErrConfig)
	}
	s := &MapState[K, N, UK, UV]{uks: uks, uvs: uvs}
	if err := s.init(d, name, kindMap, ks, ns); err != nil {
		return nil, err
	}
	return s, nil
}

// Get implements state.KvState (a copy; see AppendGet).
func (s *MapState[K, N, UK, UV]) Get(kn []byte) ([]byte, bool, error) { return get(s.AppendGet, kn) }

// AppendGet implements state.Appender: one range scan, copied into dst.
func (s *MapState[K, N, UK, UV]) AppendGet(dst, kn []byte) ([]byte, bool, error) {
	return s.appendScan(dst, kn)
}

func (s *MapState[K, N, UK, UV]) entryKey(key K, n N, uk UK) []byte {
	return s.uks.Append(s.taskKey(nil, key, n), uk)
}

// Put sets user key uk to uv in the map of key in namespace n.
func (s *MapState[K, N, UK, UV]) Put(key K, n N, uk UK, uv UV) error {
	k := s.entryKey(key, n, uk)
	val := s.uvs.Append([]byte{0}, uv)
	return s.d.write(func(b *pebble.Batch) error { return b.Set(k, val, nil) })
}

// PutAll sets every entry of m in the map of key in namespace n.
func (s *MapState[K, N, UK, UV]) PutAll(key K, n N, m map[UK]UV) error {
	for uk, uv := range m {
		if err := s.Put(key, n, uk, uv); err != nil {
			return err
		}
	}
	return nil
}

// Remove deletes user key uk from the map of key in namespace n.
func (s *MapState[K, N, UK, UV]) Remove(key K, n N, uk UK) error {
	k := s.entryKey(key, n, uk)
	return s.d.write(func(b *pebble.Batch) error { return b.Delete(k, nil) })
}

// Lookup returns the value of user key uk in the map of key in namespace n.
func (s *MapState[K, N, UK, UV]) Lookup(key K, n N, uk UK) (uv UV, ok bool, err error) {
	k := s.entryKey(key, n, uk)
	err = s.d.read(func(b *pebble.Batch) error {
		_, err := getStored(b, k, func(raw []byte) (err error) {
			if len(raw) == 0 || raw[0] != 0 {
				return fmt.Errorf("pebblestate: stored map value %x has no 0x00 flag", raw)
			}
			if uv, _, err = s.uvs.Read(raw[1:]); err != nil {
				return fmt.Errorf("pebblestate: stored map value does not deserialize: %w", err)
			}
			ok = true
			return nil
		})
		return err
	})
	return uv, ok, err
}

// Entries returns the map of key in namespace n (nil when there is none).
func (s *MapState[K, N, UK, UV]) Entries(key K, n N) (out map[UK]UV, err error) {
	prefix := s.taskKey(nil, key, n)
	err = s.d.read(func(b *pebble.Batch) error {
		it, err := b.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: successor(prefix)})
		if err != nil {
			return fmt.Errorf("pebblestate: read: %w", err)
		}
		for it.First(); it.Valid(); it.Next() {
			uk, _, kerr := s.uks.Read(it.Key()[len(prefix):])
			raw := it.Value()
			if kerr != nil || len(raw) == 0 || raw[0] != 0 {
				return errors.Join(fmt.Errorf("pebblestate: stored map entry %x does not deserialize: %v", it.Key(), kerr), it.Close())
			}
			uv, _, verr := s.uvs.Read(raw[1:])
			if verr != nil {
				return errors.Join(fmt.Errorf("pebblestate: stored map value does not deserialize: %w", verr), it.Close())
			}
			if out == nil {
				out = make(map[UK]UV)
			}
			out[uk] = uv
		}
		return it.Close()
	})
	return out, err
}

// Clear removes the map of key in namespace n (one range deletion).
func (s *MapState[K, N, UK, UV]) Clear(key K, n N) error {
	prefix := s.taskKey(nil, key, n)
	return s.d.write(func(b *pebble.Batch) error { return b.DeleteRange(prefix, successor(prefix), nil) })
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
func (m MapIn[K, N, UK, UV]) Put(key K, uk UK, uv UV) error { return m.s.Put(key, m.n, uk, uv) }

// PutAll sets every entry of entries in the map of key.
func (m MapIn[K, N, UK, UV]) PutAll(key K, entries map[UK]UV) error {
	return m.s.PutAll(key, m.n, entries)
}

// Remove deletes user key uk from the map of key.
func (m MapIn[K, N, UK, UV]) Remove(key K, uk UK) error { return m.s.Remove(key, m.n, uk) }

// Lookup returns the value of user key uk in the map of key.
func (m MapIn[K, N, UK, UV]) Lookup(key K, uk UK) (UV, bool, error) {
	return m.s.Lookup(key, m.n, uk)
}

// Entries returns the map of key.
func (m MapIn[K, N, UK, UV]) Entries(key K) (map[UK]UV, error) { return m.s.Entries(key, m.n) }
