package pebblestate

import (
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/state"
)

// serializedHasher is implemented by key serializers that compute the Java
// hashCode of a serialized key without deserializing it (state.String).
type serializedHasher interface {
	HashSerialized(b []byte) (int32, error)
}

// base is what every state shares: its ID, the DB, the key and namespace
// serializers and the key layout.
//
// A stored key is Flink's RocksDB composite key behind a two-byte state ID
// (Flink uses a column family per state): state ID (big-endian), key group
// (1 byte up to 128 key groups, else 2, big-endian), serialized key,
// serialized namespace; a map entry appends the serialized user key. Every
// serializer here is prefix-free (fixed width or length-prefixed), so the
// key and namespace need no length suffix (Flink adds one only for
// variable-width keys and namespaces of unknown serializers), and a range
// scan over a prefix serves exactly one key group, one key or one map.
type base[K, N any] struct {
	d    *DB
	name string
	id   [2]byte
	ks   state.KeySerializer[K]
	ns   state.Serializer[N]
	skK  state.Skipper // nil: ks cannot skip; queries take the allocating path
	skN  state.Skipper
	hash serializedHasher // nil: Read then HashCode
}

func (b *base[K, N]) init(d *DB, name, kind string, ks state.KeySerializer[K], ns state.Serializer[N]) error {
	if d == nil || ks == nil || ns == nil {
		return fmt.Errorf("%w: nil DB, key or namespace serializer", ErrConfig)
	}
	id, err := d.stateID(name, kind)
	if err != nil {
		return err
	}
	b.d, b.name = d, name
	b.id = [2]byte{byte(id >> 8), byte(id)}
	b.ks, b.ns = ks, ns
	b.skK, _ = ks.(state.Skipper)
	b.skN, _ = ns.(state.Skipper)
	b.hash, _ = ks.(serializedHasher)
	return nil
}

// Name returns the state's name in the store.
func (b *base[K, N]) Name() string { return b.name }

// MayBlock reports that look-ups may wait on the disk: the request handler
// runs them on its pool, never on an event loop.
func (b *base[K, N]) MayBlock() bool { return true }

// taskKey appends the stored key of (k, n).
func (b *base[K, N]) taskKey(dst []byte, k K, n N) []byte {
	dst = append(dst, b.id[:]...)
	dst = b.d.appendKeyGroup(dst, registry.KeyGroupForHash(b.ks.HashCode(k), b.d.maxP))
	dst = b.ks.Append(dst, k)
	return b.ns.Append(dst, n)
}

// queryKey appends the stored key for the serialized key and namespace of
// a query (key, 0x2A, namespace), checking them as Flink's server does.
// Canonical bytes (what Flink's client writes) cost no allocation; errors
// and non-canonical forms Flink accepts take Read's allocating path.
func (b *base[K, N]) queryKey(dst, kn []byte) ([]byte, error) {
	if b.skK == nil || b.skN == nil {
		return b.slowQueryKey(dst, kn)
	}
	rest, recK, err := b.skK.Skip(kn)
	if err != nil || len(rest) == 0 || rest[0] != state.Magic {
		return b.slowQueryKey(dst, kn)
	}
	keyBytes := kn[:len(kn)-len(rest)]
	nsBytes := rest[1:]
	tail, recN, err := b.skN.Skip(nsBytes)
	if err != nil || len(tail) > 0 || recK || recN {
		return b.slowQueryKey(dst, kn)
	}
	var h int32
	if b.hash != nil {
		if h, err = b.hash.HashSerialized(keyBytes); err != nil {
			return b.slowQueryKey(dst, kn)
		}
	} else {
		k, _, err := b.ks.Read(keyBytes)
		if err != nil {
			return b.slowQueryKey(dst, kn)
		}
		h = b.ks.HashCode(k)
	}
	dst = append(dst, b.id[:]...)
	dst = b.d.appendKeyGroup(dst, registry.KeyGroupForHash(h, b.d.maxP))
	dst = append(dst, keyBytes...)
	return append(dst, nsBytes...), nil
}

// slowQueryKey parses kn with Read: the error Flink's reader gives, or the
// canonical form's key.
func (b *base[K, N]) slowQueryKey(dst, kn []byte) ([]byte, error) {
	k, n, err := state.ReadKeyAndNamespace(b.ks, b.ns, kn)
	if err != nil {
		return dst, err
	}
	return b.taskKey(dst, k, n), nil
}

// scratch is a query's reusable buffers: the stored key, a scan's upper
// bound and iterator options (pooled: queries allocate nothing for them).
type scratch struct {
	key, upper []byte
	io         pebble.IterOptions
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

func putScratch(s *scratch) {
	if cap(s.key) > 4<<10 || cap(s.upper) > 4<<10 {
		return
	}
	s.io = pebble.IterOptions{}
	scratchPool.Put(s)
}

// appendGet appends the stored value of the query kn to dst (KvState's
// answer for value-like states and lists: the bytes are Flink's).
func (b *base[K, N]) appendGet(dst, kn []byte) ([]byte, bool, error) {
	s, err := b.queryScratch(kn)
	if err != nil {
		return dst, false, err
	}
	defer putScratch(s)
	return b.d.appendValue(dst, s.key)
}

// queryScratch returns pooled scratch whose key is the stored key of the
// query kn (see queryKey); the caller puts it back.
func (b *base[K, N]) queryScratch(kn []byte) (*scratch, error) {
	s := getScratch()
	var err error
	if s.key, err = b.queryKey(s.key[:0], kn); err != nil {
		putScratch(s)
		return nil, err
	}
	return s, nil
}

// appendScan appends, for every key under the query kn's prefix, the rest
// of the key after the prefix and the value (a map's content).
func (b *base[K, N]) appendScan(dst, kn []byte) ([]byte, bool, error) {
	s, err := b.queryScratch(kn)
	if err != nil {
		return dst, false, err
	}
	defer putScratch(s)
	s.upper = appendSuccessor(s.upper[:0], s.key)
	s.io.LowerBound, s.io.UpperBound = s.key, s.upper
	return b.d.appendScan(dst, len(s.key), &s.io)
}

// appendValue appends the committed value of key to dst.
func (d *DB) appendValue(dst, key []byte) ([]byte, bool, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return dst, false, ErrClosed
	}
	v, cl, err := d.db.Get(key)
	if err == pebble.ErrNotFound {
		return dst, false, nil
	}
	if err != nil {
		return dst, false, fmt.Errorf("pebblestate: read: %w", err)
	}
	dst = append(dst, v...)
	return dst, true, cl.Close()
}

// appendScan appends key[skip:] and the value of every committed key in
// io's bounds; found is false when there is none.
func (d *DB) appendScan(dst []byte, skip int, io *pebble.IterOptions) ([]byte, bool, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return dst, false, ErrClosed
	}
	it, err := d.db.NewIter(io)
	if err != nil {
		return dst, false, fmt.Errorf("pebblestate: read: %w", err)
	}
	start, found := len(dst), false
	for it.First(); it.Valid(); it.Next() {
		dst = append(dst, it.Key()[skip:]...)
		dst = append(dst, it.Value()...)
		found = true
	}
	if err := it.Close(); err != nil {
		return dst[:start], false, fmt.Errorf("pebblestate: read: %w", err)
	}
	return dst, found, nil
}

// get returns a copy of the answer (KvState.Get for callers that do not
// reuse a buffer; the handler calls AppendGet).
func get(f func(dst, kn []byte) ([]byte, bool, error), kn []byte) ([]byte, bool, error) {
	v, found, err := f(nil, kn)
	if !found || err != nil {
		return nil, found, err
	}
	return v[:len(v):len(v)], true, nil
}
