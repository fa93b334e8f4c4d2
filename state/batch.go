package state

import "hash/maphash"

// Lookup is one key of a batch look-up (BatchGetter.GetBatch). The caller
// sets KeyAndNamespace; GetBatch sets Value, Found and Err exactly as Get
// would return them for that key, with Get's ownership rules.
type Lookup struct {
	KeyAndNamespace []byte
	Value           []byte
	Found           bool
	Err             error
}

// BatchGetter is a KvState that looks many keys up at once faster than one
// Get after the other: it overlaps their memory misses (group prefetching:
// hash every key, then load every key's slot, then every entry, then
// compare and copy), so that on a table larger than the CPU's caches a
// group of misses costs about one. The request handler uses it for the
// requests of a batch that go to one state. Like Get, GetBatch neither
// locks nor allocates (unless a key is in error or non-canonical), and may
// run on any number of goroutines at once.
type BatchGetter interface {
	KvState
	GetBatch(ls []Lookup)
}

// Compile-time checks that the heap states are BatchGetters.
var (
	_ BatchGetter = (*ValueState[int32, VoidNamespace, int64])(nil)
	_ BatchGetter = (*ListState[int32, VoidNamespace, int64])(nil)
	_ BatchGetter = (*MapState[int32, VoidNamespace, string, int64])(nil)
	_ BatchGetter = (*ReducingState[int32, VoidNamespace, int64])(nil)
	_ BatchGetter = (*AggregatingState[int32, VoidNamespace, int64, int64, int64])(nil)
)

// batchGroup is how many keys getBatch probes together: enough misses in
// flight to fill a core's miss buffers (10-24 on current x86 and Arm
// cores), few enough that the group's lines stay in L1 until used.
const batchGroup = 16

// getBatch implements GetBatch for every heap state. For each group of keys
// it runs the probe in phases whose loads do not depend on each other
// across keys, so the CPU keeps the group's misses in flight together:
// hash every key; load every key's home slot; load every entry found there
// (its answer pointer); then compare each key and take its answer. For a
// short key whose answer has not changed since its insert, the last two
// touch one cache line of the entry (its packed key and first answer, see
// entry); a long key's bytes and a later answer are further loads. A key
// whose home slot does not hold it (a collision, a tombstone, a miss)
// takes Get's path, which probes on and checks a missing key's bytes.
func (b *base[K, N, E]) getBatch(ls []Lookup) {
	t := &b.t
	var (
		hs  [batchGroup]uint64
		es  [batchGroup]*entry[E]
		bls [batchGroup]*blob
	)
	for len(ls) > 0 {
		g := ls[:min(len(ls), batchGroup)]
		ls = ls[len(g):]
		for j := range g {
			hs[j] = maphash.Bytes(t.seed, g[j].KeyAndNamespace)
		}
		sl := t.cur.Load()
		for j := range g {
			es[j] = sl.s[hs[j]&sl.mask].Load()
		}
		for j := range g {
			bls[j] = nil
			if e := es[j]; e != nil && e != t.tomb {
				bls[j] = e.pub.Load()
			}
		}
		for j := range g {
			l := &g[j]
			e, bl := es[j], bls[j]
			var k0, k1 uint64
			if len(l.KeyAndNamespace) <= shortKey {
				k0, k1 = packShort(l.KeyAndNamespace)
			}
			if bl != nil && e.is(l.KeyAndNamespace, hs[j], k0, k1) {
				l.Value, l.Found, l.Err = bl.b[:len(bl.b):len(bl.b)], true, nil
				continue
			}
			l.Value, l.Found, l.Err = b.get(l.KeyAndNamespace)
		}
	}
}
