package state

import (
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// numShards is the number of shards of a table (a power of two). Readers
// of different shards share no lock word; see BenchmarkLookupDesigns for the
// comparison with one RWMutex, sync.Map and a copy-on-write snapshot.
const numShards = 32

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

// entry is the state of one key and namespace. pub is read by Get without
// any lock besides the shard's read lock; data is the typed state, guarded
// by the shard's wmu.
type entry[E any] struct {
	pub  atomic.Pointer[blob]
	data E
}

// shard is one slice of a table. mu guards the structure of m: Get holds
// it shared, a writer holds it exclusively only to insert or delete a key.
// wmu serializes writers for a whole mutation (typed update, serialization,
// publication); Get never takes it.
type shard[E any] struct {
	mu  sync.RWMutex
	wmu sync.Mutex
	m   map[string]*entry[E]
	_   [128 - 40]byte // keep shards on separate cache lines
}

// table maps serialized key-and-namespace bytes to entries.
type table[E any] struct {
	seed   maphash.Seed
	shards [numShards]shard[E]
}

func (t *table[E]) init() {
	t.seed = maphash.MakeSeed()
	for i := range t.shards {
		t.shards[i].m = make(map[string]*entry[E])
	}
}

func (t *table[E]) shardOf(kn []byte) *shard[E] {
	return &t.shards[maphash.Bytes(t.seed, kn)&(numShards-1)]
}

// lookup returns the published answer for kn. It does not allocate: the
// map index with string(kn) does not copy kn.
func (t *table[E]) lookup(kn []byte) ([]byte, bool) {
	s := t.shardOf(kn)
	s.mu.RLock()
	e := s.m[string(kn)]
	s.mu.RUnlock()
	if e == nil {
		return nil, false
	}
	bl := e.pub.Load()
	if bl == nil {
		return nil, false
	}
	return bl.b[:len(bl.b):len(bl.b)], true
}

// lock takes the writer lock of kn's shard and returns the shard and kn's
// entry, nil when there is none. The caller unlocks s.wmu.
func (t *table[E]) lock(kn []byte) (*shard[E], *entry[E]) {
	s := t.shardOf(kn)
	s.wmu.Lock()
	return s, s.m[string(kn)] // reading m needs no mu: only wmu holders change it
}

// insert adds an entry for kn; the caller holds s.wmu and found none. The
// entry publishes nothing until the caller stores a blob.
func (s *shard[E]) insert(kn []byte) *entry[E] {
	e := new(entry[E])
	k := string(kn)
	s.mu.Lock()
	s.m[k] = e
	s.mu.Unlock()
	return e
}

// publish makes data and bl the state of kn: it inserts an entry when e is
// nil, after everything that can fail or panic has run, so that no entry
// exists without an answer (I2). The caller holds s.wmu.
func (s *shard[E]) publish(kn []byte, e *entry[E], data E, bl *blob) {
	if e == nil {
		e = s.insert(kn)
	}
	e.data = data
	e.pub.Store(bl)
}

// remove deletes kn's entry e; the caller holds s.wmu. A Get that found e
// before the delete may still return its last answer; later ones miss.
func (s *shard[E]) remove(kn []byte, e *entry[E]) {
	s.mu.Lock()
	delete(s.m, string(kn))
	s.mu.Unlock()
	e.pub.Store(nil)
}

// len counts the keys with an answer.
func (t *table[E]) len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
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

// keyBuf is a writer's scratch buffer for serialized key and namespace.
type keyBuf struct{ b []byte }

// key serializes k and n into a pooled buffer; the caller releases it.
func (b *base[K, N, E]) key(k K, n N) *keyBuf {
	kb, _ := b.pool.Get().(*keyBuf)
	if kb == nil {
		kb = new(keyBuf)
	}
	kb.b = AppendKeyAndNamespace(kb.b[:0], b.ks, k, b.ns, n)
	return kb
}

func (b *base[K, N, E]) release(kb *keyBuf) {
	if cap(kb.b) <= 4<<10 {
		b.pool.Put(kb)
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
