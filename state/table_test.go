package state

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/qstate/qstate/internal/qstatetest"
)

// TestTableNeverMissesPresentKeys grows the table from empty through many
// resizes while deleting and re-inserting other keys (tombstones, reused
// slots): concurrent readers must find every key of the stable set, every
// time (a lock-free reader must not miss a key that is present).
func TestTableNeverMissesPresentKeys(t *testing.T) {
	s := NewValueState(Int, Void, Int)
	const stable = 64
	for k := int32(0); k < stable; k++ {
		s.Update(k, VoidNamespace{}, k)
	}
	kns := make([][]byte, stable)
	for k := range kns {
		kns[k] = knVoid(Int, int32(k))
	}
	churn := 20_000
	if testing.Short() {
		churn = 3000
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for i := 0; i < churn; i++ {
			k := int32(stable + i)
			s.Update(k, VoidNamespace{}, k)
			if i%3 != 0 {
				s.Clear(k-int32(i%7), VoidNamespace{}) // leaves tombstones
			}
		}
	})
	for r := 0; r < 2; r++ {
		wg.Go(func() {
			for n := 0; !qstatetest.IsClosed(done); n++ {
				k := n % stable
				ans, found, err := s.Get(kns[k])
				if err != nil || !found {
					t.Errorf("stable key %d: found %v, %v (after %d reads)", k, found, err, n)
					return
				}
				if v, _, _ := Int.Read(ans); v != int32(k) {
					t.Errorf("stable key %d: value %d", k, v)
					return
				}
			}
		})
	}
	wg.Wait()
	// Every key is where the model says.
	present := map[int32]bool{}
	for k := int32(0); k < stable; k++ {
		present[k] = true
	}
	for i := 0; i < churn; i++ {
		k := int32(stable + i)
		present[k] = true
		if i%3 != 0 {
			delete(present, k-int32(i%7))
		}
	}
	if s.Len() != len(present) {
		t.Errorf("Len %d, model %d", s.Len(), len(present))
	}
	for k := int32(0); k < int32(stable+churn); k++ {
		_, found, _ := s.Get(knVoid(Int, k))
		if _, got := s.Value(k, VoidNamespace{}); found != present[k] || got != present[k] {
			t.Fatalf("key %d: Get found %v, Value found %v, model %v", k, found, got, present[k])
		}
	}
}

// TestConcurrentFirstAdds has writers race to create the same keys: no
// Add may be lost (an insert that loses the race starts over on the
// winner's entry).
func TestConcurrentFirstAdds(t *testing.T) {
	sum := NewReducingState(Int, Void, Long, func(a, b int64) int64 { return a + b })
	list := NewListState(Int, Void, Long)
	mp := NewMapState(Int, Void, Int, Long)
	const writers, keys, rounds = 4, 50, 3
	for round := 0; round < rounds; round++ {
		var wg sync.WaitGroup
		for w := 0; w < writers; w++ {
			wg.Go(func() {
				for k := int32(0); k < keys; k++ {
					sum.Add(k, VoidNamespace{}, 1)
					list.Add(k, VoidNamespace{}, int64(w))
					mp.Put(k, VoidNamespace{}, int32(w), 1)
				}
			})
		}
		wg.Wait()
		for k := int32(0); k < keys; k++ {
			if v, _ := sum.Value(k, VoidNamespace{}); v != writers {
				t.Fatalf("round %d key %d: sum %d, want %d", round, k, v, writers)
			}
			if n := len(list.Elements(k, VoidNamespace{})); n != writers {
				t.Fatalf("round %d key %d: %d elements, want %d", round, k, n, writers)
			}
			if n := len(mp.Entries(k, VoidNamespace{})); n != writers {
				t.Fatalf("round %d key %d: %d map entries, want %d", round, k, n, writers)
			}
			sum.Clear(k, VoidNamespace{})
			list.Clear(k, VoidNamespace{})
			mp.Clear(k, VoidNamespace{})
		}
	}
}

// TestTableProbeChains builds collisions on purpose (keys with the same
// home slot under the table's seed) and checks that deleting a key in the
// middle of a probe chain keeps the keys after it reachable, that its
// tombstone is reused, and that a resize keeps everything.
func TestTableProbeChains(t *testing.T) {
	var tb table[int]
	tb.init()
	bl := newBlob(Int, 1)
	home := func(kn []byte) uint64 { return maphash.Bytes(tb.seed, kn) & (minSlots - 1) }
	// Three keys with the same home slot.
	var chain [][]byte
	want := uint64(0)
	for i := int32(0); len(chain) < 3; i++ {
		kn := knVoid(Int, i)
		if len(chain) == 0 {
			want = home(kn)
		}
		if home(kn) == want {
			chain = append(chain, kn)
		}
	}
	for i, kn := range chain {
		if !tb.insert(kn, maphash.Bytes(tb.seed, kn), i, bl) {
			t.Fatal("insert refused")
		}
	}
	mid := tb.find(chain[1], maphash.Bytes(tb.seed, chain[1]))
	mid.mu.Lock()
	tb.remove(mid)
	mid.mu.Unlock()
	if _, ok := tb.lookup(chain[1]); ok {
		t.Error("deleted key found")
	}
	for _, i := range []int{0, 2} {
		if e := tb.find(chain[i], maphash.Bytes(tb.seed, chain[i])); e == nil || e.data != i {
			t.Fatalf("key %d of the chain lost after deleting its predecessor", i)
		}
	}
	// Re-inserting reuses the tombstone: the slot count in use stays.
	used := tb.used
	tb.insert(chain[1], maphash.Bytes(tb.seed, chain[1]), 1, bl)
	if tb.used != used || tb.live != 3 {
		t.Errorf("after re-insert: used %d (was %d), live %d", tb.used, used, tb.live)
	}
	// Grow through several resizes; every key stays reachable.
	for i := int32(1000); i < 1200; i++ {
		kn := knVoid(Int, i)
		tb.insert(kn, maphash.Bytes(tb.seed, kn), int(i), bl)
	}
	for i, kn := range chain {
		if e := tb.find(kn, maphash.Bytes(tb.seed, kn)); e == nil || e.data != i {
			t.Fatalf("chain key %d lost after resizes", i)
		}
	}
	if len(tb.cur.Load().s) < 4*tb.live/3 {
		t.Errorf("%d slots for %d entries", len(tb.cur.Load().s), tb.live)
	}
}

// TestEntryHoldsKeyAndFirstAnswer: an inserted entry publishes the answer
// copy in its own allocation (its bytes inside the entry, not the blob the
// writer built); an update publishes a new blob and leaves the first
// answer's bytes as they were (I1).
func TestEntryHoldsKeyAndFirstAnswer(t *testing.T) {
	s := NewValueState(Long, Void, Long)
	s.Update(5, VoidNamespace{}, 50)
	kn := knVoid(Long, 5)
	e := s.t.find(kn, maphash.Bytes(s.t.seed, kn))
	if e == nil || e.pub.Load() != &e.first || unsafe.SliceData(e.first.b) != &e.first.small[0] {
		t.Fatal("the first answer is not the entry's own")
	}
	first, _, _ := s.Get(kn)
	s.Update(5, VoidNamespace{}, 51)
	if e.pub.Load() == &e.first {
		t.Fatal("an update did not publish a new blob")
	}
	if v := int64(binary.BigEndian.Uint64(first)); v != 50 {
		t.Fatalf("the first answer changed to %d after an update", v)
	}
	expectGet(t, s, kn, Long.Append(nil, 51), true)
}

// TestTableKeyLengths: keys around the packed length (shortKey) and
// beyond, sharing every byte but one or their length, are different keys
// for Get, GetBatch, Clear and re-insert.
func TestTableKeyLengths(t *testing.T) {
	s := NewValueState(String, Void, Long)
	var keys []string
	for n := 0; n <= shortKey+6; n++ { // serialized: 1 length byte + n + 2 = up to shortKey+9 bytes
		base := strings.Repeat("a", n)
		keys = append(keys, base)
		for i := range n {
			keys = append(keys, base[:i]+"b"+base[i+1:])
		}
	}
	for i, k := range keys {
		s.Update(k, VoidNamespace{}, int64(i))
	}
	for i := 0; i < len(keys); i += 3 {
		s.Clear(keys[i], VoidNamespace{})
	}
	for i := 0; i < len(keys); i += 6 {
		s.Update(keys[i], VoidNamespace{}, int64(i)+1000)
	}
	var ls []Lookup
	for _, k := range keys {
		ls = append(ls, Lookup{KeyAndNamespace: knVoid(String, k)})
	}
	ls = append(ls, Lookup{KeyAndNamespace: knVoid(String, strings.Repeat("c", shortKey))})
	s.GetBatch(ls)
	for i, l := range ls {
		want, present := int64(i), true
		switch {
		case i == len(keys):
			present = false
		case i%6 == 0:
			want = int64(i) + 1000
		case i%3 == 0:
			present = false
		}
		v, found, err := s.Get(l.KeyAndNamespace)
		if err != nil || l.Err != nil || found != present || l.Found != present || !bytes.Equal(v, l.Value) {
			t.Fatalf("key %x: Get %x %v %v, GetBatch %x %v %v, want present %v", l.KeyAndNamespace, v, found, err, l.Value, l.Found, l.Err, present)
		}
		if present && int64(binary.BigEndian.Uint64(v)) != want {
			t.Fatalf("key %x: %d, want %d", l.KeyAndNamespace, int64(binary.BigEndian.Uint64(v)), want)
		}
	}
	if want := len(keys) - (len(keys)+2)/3 + (len(keys)+5)/6; s.Len() != want {
		t.Fatalf("Len %d, want %d", s.Len(), want)
	}
}

// TestEntryIs: the comparison tells apart raw keys that differ only in
// length (trailing zero bytes: a query's bytes need not be a canonical
// serialization) and, for long keys, keys of the same hash.
func TestEntryIs(t *testing.T) {
	var tb table[int]
	tb.init()
	bl := newBlob(Int, 1)
	stored := []byte{1, 2, 0}
	tb.insert(stored, maphash.Bytes(tb.seed, stored), 1, bl)
	e := tb.find(stored, maphash.Bytes(tb.seed, stored))
	if e == nil {
		t.Fatal("stored key not found")
	}
	for _, kn := range [][]byte{{1, 2}, {1, 2, 0, 0}, {}, {1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}} {
		k0, k1 := packShort(kn)
		if e.is(kn, maphash.Bytes(tb.seed, kn), k0, k1) {
			t.Errorf("%x is %x", kn, stored)
		}
	}
	long := bytes.Repeat([]byte{7}, shortKey+1)
	e = &entry[int]{key: string(long), hash: 42}
	other := bytes.Clone(long)
	other[shortKey] = 8
	if !e.is(long, 42, 0, 0) || e.is(other, 42, 0, 0) || e.is(long, 43, 0, 0) {
		t.Error("long keys compared wrongly")
	}
}

// TestEntriesStartOnCacheLines: whatever the size of the typed data, an
// inserted entry starts on a 64-byte boundary, so the part a look-up reads
// (pub, packed key, first answer: the first 64 bytes) is one cache line.
func TestEntriesStartOnCacheLines(t *testing.T) {
	if off := unsafe.Offsetof(entry[int64]{}.key); off != 64 {
		t.Fatalf("the look-up's part of an entry is %d bytes, want 64", off)
	}
	checkEntryAlignment[int64](t)
	checkEntryAlignment[[]byte](t)
	checkEntryAlignment[string](t)
	checkEntryAlignment[struct{}](t)
	checkEntryAlignment[[5]int64](t)
}

func checkEntryAlignment[E any](t *testing.T) {
	t.Helper()
	var tb table[E]
	tb.init()
	var zero E
	for i := range int32(50) {
		kn := knVoid(Int, i)
		h := maphash.Bytes(tb.seed, kn)
		tb.insert(kn, h, zero, newBlob(Int, i))
		if e := tb.find(kn, h); uintptr(unsafe.Pointer(e))%64 != 0 {
			t.Fatalf("%T entry (%d bytes) at %#x, not on a cache line", zero, unsafe.Sizeof(*e), uintptr(unsafe.Pointer(e)))
		}
	}
}
