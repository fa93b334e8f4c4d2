package state

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"unsafe"
)

// minSlots is the smallest slot array of a table (a power of two).
const minSlots = 16

// blobInline is the size of the array inside a blob that holds small
// answers (ints, longs, doubles, short strings) in the blob's own
// allocation: one allocation per update instead of two.
const blobInline = 16

// blob is one published answer. b is immutable in [0, len(b)) once the blob
// is stored in an entry (I1); a writer may append past len(b) into spare
// capacity (list and map appends), never below it.
type blob struct {
	b     []byte
	small [blobInline]byte
}

// entry is the state of one key and namespace, in one allocation with its
// key (when short) and its first answer, laid out so that a look-up of a
// short key that has not been updated since its insert reads one cache
// line of it: kw (the key, packed), pub, and first, the blob pub points to
// until the first update. key, hash and kw never change. pub is read by
// Get with one atomic load; data is the typed state, guarded by mu, which
// serializes the writers of this key. (BenchmarkGetBatch, BENCHMARKS.md:
// each a separate allocation cost a cache miss more per look-up.)
type entry[E any] struct {
	pub   atomic.Pointer[blob]
	kw    [2]uint64 // a key of at most shortKey bytes: packShort; else zero
	first blob      // the answer stored by insert
	key   string    // serialized key and namespace when longer than shortKey
	hash  uint64    // maphash of key with the table's seed
	mu    sync.Mutex
	dead  bool // guarded by mu: removed from the table; a writer that finds it dead retries
	data  E
}

// newEntry allocates an entry padded to a multiple of 64 bytes (sizes that
// are Go size classes up to 512), so that entries start on cache lines and
// the first 64 bytes, what a look-up reads, are one line.
func newEntry[E any]() *entry[E] {
	switch unsafe.Sizeof(entry[E]{}) % 64 {
	case 8:
		return &new(struct {
			e entry[E]
			_ [56]byte
		}).e
	case 16:
		return &new(struct {
			e entry[E]
			_ [48]byte
		}).e
	case 24:
		return &new(struct {
			e entry[E]
			_ [40]byte
		}).e
	case 32:
		return &new(struct {
			e entry[E]
			_ [32]byte
		}).e
	case 40:
		return &new(struct {
			e entry[E]
			_ [24]byte
		}).e
	case 48:
		return &new(struct {
			e entry[E]
			_ [16]byte
		}).e
	case 56:
		return &new(struct {
			e entry[E]
			_ [8]byte
		}).e
	}
	return new(entry[E])
}

// shortKey is the longest key kept packed in entry.kw.
const shortKey = 15

// packShort packs kn (at most shortKey bytes) with its length into two
// words; words of different keys differ.
func packShort(kn []byte) (k0, k1 uint64) {
	var b [16]byte
	copy(b[:], kn)
	b[15] = byte(len(kn)) + 1
	return binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])
}

// is reports whether e holds kn (k0, k1 = packShort(kn) for a short kn).
// For a short kn it reads only e's first cache line.
func (e *entry[E]) is(kn []byte, h, k0, k1 uint64) bool {
	if len(kn) <= shortKey {
		return e.kw[0] == k0 && e.kw[1] == k1
	}
	return e.hash == h && e.key == string(kn)
}

// slots is an open-addressing array (linear probing) of entries. A slot
// goes from nil to an entry and from an entry to the table's tombstone,
// never back to nil, so a reader probing for a present key cannot miss
// it. Every array has at least one nil slot, so every probe ends.
type slots[E any] struct {
	s    []atomic.Pointer[entry[E]]
	mask uint64
}

// table maps serialized key-and-namespace bytes to entries. Readers take no
// lock and write no shared memory: they hash the bytes, load the current
// slot array and probe it with atomic loads. Writers of an existing key
// lock only that entry. Inserting or deleting a key takes mu; a growing
// table builds a new slot array and swaps it in (readers of the old one
// still see a consistent array, which no writer touches any more).
// BenchmarkLookupDesigns compares this with a sharded RWMutex map, one
// RWMutex, sync.Map and a copy-on-write snapshot of a Go map.
//
// Lock order: an entry's mu before the table's mu.
type table[E any] struct {
	seed maphash.Seed
	tomb *entry[E] // sentinel of a deleted slot
	cur  atomic.Pointer[slots[E]]
	mu   sync.Mutex // guards the structure: insert, delete, resize
	live int        // guarded by mu: entries in cur
	used int        // guarded by mu: non-nil slots in cur (entries and tombstones)
}

func (t *table[E]) init() {
	t.seed = maphash.MakeSeed()
	t.tomb = new(entry[E])
	t.cur.Store(&slots[E]{s: make([]atomic.Pointer[entry[E]], minSlots), mask: minSlots - 1})
}

// find returns kn's entry, or nil. It neither locks nor allocates (the
// comparison with string(kn) does not copy).
func (t *table[E]) find(kn []byte, h uint64) *entry[E] {
	var k0, k1 uint64
	if len(kn) <= shortKey {
		k0, k1 = packShort(kn)
	}
	sl := t.cur.Load()
	for i := h & sl.mask; ; i = (i + 1) & sl.mask {
		e := sl.s[i].Load()
		if e == nil {
			return nil
		}
		if e != t.tomb && e.is(kn, h, k0, k1) {
			return e
		}
	}
}

// lookup returns the published answer for kn.
func (t *table[E]) lookup(kn []byte) ([]byte, bool) {
	e := t.find(kn, maphash.Bytes(t.seed, kn))
	if e == nil {
		return nil, false
	}
	bl := e.pub.Load()
	if bl == nil {
		return nil, false
	}
	return bl.b[:len(bl.b):len(bl.b)], true
}

// acquire returns kn's entry with its mu locked, or nil when there is
// none. The caller unlocks.
func (t *table[E]) acquire(kn []byte, h uint64) *entry[E] {
	for {
		e := t.find(kn, h)
		if e == nil {
			return nil
		}
		e.mu.Lock()
		if !e.dead {
			return e
		}
		e.mu.Unlock() // deleted since find: look again
	}
}

// insert adds an entry for kn holding data and bl, unless another writer
// inserted kn first: then it returns false and the caller starts over
// with that entry. Everything that can fail or panic has run before
// insert, so no entry exists without an answer (I2).
func (t *table[E]) insert(kn []byte, h uint64, data E, bl *blob) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.find(kn, h) != nil {
		return false
	}
	sl := t.cur.Load()
	if (t.used+1)*4 > len(sl.s)*3 { // keep the load, tombstones included, at most 3/4
		sl = t.resize()
	}
	e := newEntry[E]()
	e.hash, e.data, e.first = h, data, *bl
	if bl.b != nil && len(bl.b) <= blobInline && unsafe.SliceData(bl.b) == &bl.small[0] {
		e.first.b = e.first.small[:len(bl.b):cap(bl.b)] // the copy's own bytes
	}
	if len(kn) <= shortKey {
		e.kw[0], e.kw[1] = packShort(kn)
	} else {
		e.key = string(kn)
	}
	e.pub.Store(&e.first)
	i := h & sl.mask
	for ; ; i = (i + 1) & sl.mask {
		if x := sl.s[i].Load(); x == nil || x == t.tomb {
			break
		}
	}
	if sl.s[i].Load() == nil {
		t.used++
	}
	sl.s[i].Store(e)
	t.live++
	return true
}

// resize builds a slot array with room for twice the live entries and no
// tombstones, and makes it current; t.mu is held.
func (t *table[E]) resize() *slots[E] {
	n := minSlots
	for n < (t.live+1)*4 {
		n *= 2
	}
	old := t.cur.Load()
	sl := &slots[E]{s: make([]atomic.Pointer[entry[E]], n), mask: uint64(n - 1)}
	for i := range old.s {
		e := old.s[i].Load()
		if e == nil || e == t.tomb {
			continue
		}
		j := e.hash & sl.mask
		for sl.s[j].Load() != nil {
			j = (j + 1) & sl.mask
		}
		sl.s[j].Store(e)
	}
	t.used = t.live
	t.cur.Store(sl)
	return sl
}

// remove deletes e, whose mu the caller holds. A Get that found e before
// may still return its last answer; later ones miss.
func (t *table[E]) remove(e *entry[E]) {
	t.mu.Lock()
	sl := t.cur.Load()
	for i := e.hash & sl.mask; ; i = (i + 1) & sl.mask {
		if x := sl.s[i].Load(); x == e {
			sl.s[i].Store(t.tomb)
			break
		}
	}
	t.live--
	t.mu.Unlock()
	e.dead = true
	e.pub.Store(nil)
}

// len counts the keys with an answer.
func (t *table[E]) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.live
}

// newBlob serializes v with s into a fresh blob.
func newBlob[T any](s Serializer[T], v T) *blob {
	bl := new(blob)
	bl.b = s.Append(bl.small[:0], v)
	return bl
}

// base is what every heap state shares: the key and namespace serializers,
// a pool of scratch buffers for writers' keys, and the table.
type base[K, N, E any] struct {
	ks   KeySerializer[K]
	ns   Serializer[N]
	skK  Skipper // ks as a Skipper, or nil
	skN  Skipper // ns as a Skipper, or nil
	pool sync.Pool
	t    table[E]
}

func (b *base[K, N, E]) init(ks KeySerializer[K], ns Serializer[N]) {
	if ks == nil || ns == nil {
		panic("state: nil key or namespace serializer")
	}
	b.ks, b.ns = ks, ns
	b.skK, _ = ks.(Skipper)
	b.skN, _ = ns.(Skipper)
	b.t.init()
}

// keyBuf is a writer's scratch buffer for serialized key and namespace,
// with its hash.
type keyBuf struct {
	b []byte
	h uint64
}

// key serializes k and n into a pooled buffer; the caller releases it.
func (b *base[K, N, E]) key(k K, n N) *keyBuf {
	kb, _ := b.pool.Get().(*keyBuf)
	if kb == nil {
		kb = new(keyBuf)
	}
	kb.b = AppendKeyAndNamespace(kb.b[:0], b.ks, k, b.ns, n)
	kb.h = maphash.Bytes(b.t.seed, kb.b)
	return kb
}

func (b *base[K, N, E]) release(kb *keyBuf) {
	if cap(kb.b) <= 4<<10 {
		b.pool.Put(kb)
	}
}

// mutate applies a writer's operation to the state of kb: mod runs with
// the entry's mu held when there is an entry; otherwise fresh builds the
// first state (ok false: nothing to store) and it is inserted. When another
// writer inserts the key between the two, it starts over, so mod sees that
// writer's state.
func (b *base[K, N, E]) mutate(kb *keyBuf, mod func(e *entry[E]), fresh func() (data E, bl *blob, ok bool)) {
	for {
		if e := b.t.acquire(kb.b, kb.h); e != nil {
			unlockAfter(e, mod)
			return
		}
		data, bl, ok := fresh()
		if !ok || b.t.insert(kb.b, kb.h, data, bl) {
			return
		}
	}
}

// unlockAfter runs fn(e) and unlocks e.mu, even if fn panics. (A defer in
// mutate's loop would be heap-allocated.)
func unlockAfter[E any](e *entry[E], fn func(*entry[E])) {
	defer e.mu.Unlock()
	fn(e)
}

// read runs fn with the entry of kb locked; it reports whether there was one.
func (b *base[K, N, E]) read(kb *keyBuf, fn func(e *entry[E])) bool {
	e := b.t.acquire(kb.b, kb.h)
	if e == nil {
		return false
	}
	defer e.mu.Unlock()
	fn(e)
	return true
}

// clear removes the state of key and namespace n.
func (b *base[K, N, E]) clear(k K, n N) {
	kb := b.key(k, n)
	defer b.release(kb)
	if e := b.t.acquire(kb.b, kb.h); e != nil {
		defer e.mu.Unlock()
		b.t.remove(e)
	}
}

// get implements KvState.Get for every heap state.
func (b *base[K, N, E]) get(kn []byte) ([]byte, bool, error) {
	if v, ok := b.t.lookup(kn); ok {
		// Every stored key is a canonical serialization, so bytes equal to
		// one parse: no check needed on a hit.
		return v, true, nil
	}
	return b.miss(kn)
}

// miss checks kn with the key and namespace serializers, as Flink does
// before its look-up, so that bytes that do not parse are an error and
// not a missing key. For bytes Flink's reader accepts in a non-canonical
// form (see Skipper) it looks up the canonical form, allocating.
func (b *base[K, N, E]) miss(kn []byte) ([]byte, bool, error) {
	var (
		rest       []byte
		recK, recN bool
		err        error
	)
	if b.skK != nil {
		rest, recK, err = b.skK.Skip(kn)
	} else {
		rest, recK, err = skipOne[K](b.ks, kn)
	}
	if err != nil {
		return nil, false, fmt.Errorf("%w: key: %w", ErrBadKeyAndNamespace, err)
	}
	if err := checkMagic(rest); err != nil {
		return nil, false, err
	}
	if b.skN != nil {
		rest, recN, err = b.skN.Skip(rest[1:])
	} else {
		rest, recN, err = skipOne[N](b.ns, rest[1:])
	}
	if err != nil {
		return nil, false, fmt.Errorf("%w: namespace: %w", ErrBadKeyAndNamespace, err)
	}
	if len(rest) > 0 {
		return nil, false, errUnconsumed(len(rest))
	}
	if !recK && !recN {
		return nil, false, nil
	}
	k, n, err := ReadKeyAndNamespace(b.ks, b.ns, kn)
	if err != nil {
		return nil, false, err
	}
	v, ok := b.t.lookup(AppendKeyAndNamespace(nil, b.ks, k, b.ns, n))
	return v, ok, nil
}

// mustVoid returns the zero N and panics unless N is VoidNamespace: the
// Void methods of the states are for VoidNamespace states only.
func mustVoid[N any]() N {
	var n N
	if _, ok := any(n).(VoidNamespace); !ok {
		panic(fmt.Sprintf("state: Void() on a state whose namespace type is %T, not VoidNamespace", n))
	}
	return n
}
