package state

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qstate/qstate/internal/qstatetest"
)

const benchKeys = 10_000

// writer runs fn(i) in a loop on its own goroutine until the benchmark
// ends: queries are measured while the state changes under them.
func writer(b *testing.B, fn func(i int)) {
	b.Helper()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; !qstatetest.IsClosed(stop); i++ {
			fn(i)
		}
	})
	b.Cleanup(func() { close(stop); wg.Wait() })
}

// updatedLongs returns a value state of benchKeys longs (key i holds i)
// that a writer keeps updating while the benchmark runs.
func updatedLongs(b *testing.B) *ValueState[int64, VoidNamespace, int64] {
	b.Helper()
	s := NewValueState(Long, Void, Long)
	for i := range benchKeys {
		s.Update(int64(i), VoidNamespace{}, int64(i))
	}
	writer(b, func(i int) { s.Update(int64(i%benchKeys), VoidNamespace{}, int64(i)) })
	return s
}

func benchKNs() [][]byte {
	kns := make([][]byte, benchKeys)
	for i := range kns {
		kns[i] = knVoid(Long, int64(i))
	}
	return kns
}

// benchGet measures Get on rotating keys. B/op and allocs/op are
// process-wide, so they include the concurrent writer's copy-on-write
// allocations; TestGetDoesNotAllocate proves the query itself allocates
// nothing.
func benchGet(b *testing.B, s KvState, kns [][]byte, wantLen int) {
	b.Helper()
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		v, found, err := s.Get(kns[i%len(kns)])
		if !found || err != nil || (wantLen > 0 && len(v) != wantLen) {
			b.Fatalf("Get: %d bytes, %v, %v", len(v), found, err)
		}
		i++
	}
}

func BenchmarkGetValue8B(b *testing.B) {
	benchGet(b, updatedLongs(b), benchKNs(), 8)
}

func BenchmarkGetValue1KiB(b *testing.B) {
	s := NewValueState(Long, Void, Bytes)
	v := bytes.Repeat([]byte{7}, 1020) // + 4-byte length = 1 KiB
	for i := range benchKeys {
		s.Update(int64(i), VoidNamespace{}, v)
	}
	writer(b, func(i int) { s.Update(int64(i%benchKeys), VoidNamespace{}, v) })
	benchGet(b, s, benchKNs(), 1024)
}

func BenchmarkGetList100(b *testing.B) {
	s := NewListState(Long, Void, Long)
	elems := make([]int64, 100)
	for i := range benchKeys {
		s.Update(int64(i), VoidNamespace{}, elems)
	}
	writer(b, func(i int) {
		k := int64(i % benchKeys)
		s.Update(k, VoidNamespace{}, elems[:99])
		s.Add(k, VoidNamespace{}, int64(i))
	})
	benchGet(b, s, benchKNs(), 0) // 99 or 100 elements
}

func BenchmarkGetMap100(b *testing.B) {
	s := NewMapState(Long, Void, Long, Long)
	m := make(map[int64]int64, 100)
	for i := range int64(100) {
		m[i] = i
	}
	for i := range benchKeys {
		s.PutAll(int64(i), VoidNamespace{}, m)
	}
	writer(b, func(i int) { s.Put(int64(i%benchKeys), VoidNamespace{}, int64(i%100), int64(i)) })
	benchGet(b, s, benchKNs(), 100*17)
}

func BenchmarkGetMiss(b *testing.B) {
	s := NewValueState(String, Void, Long)
	s.Update("present", VoidNamespace{}, 1)
	kn := knVoid(String, "absent-key-of-some-length")
	b.ReportAllocs()
	for b.Loop() {
		if _, found, err := s.Get(kn); found || err != nil {
			b.Fatal(found, err)
		}
	}
}

func BenchmarkGetParallelValue8B(b *testing.B) {
	s := updatedLongs(b)
	kns := benchKNs()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(benchKeys)
		for pb.Next() {
			if _, found, _ := s.Get(kns[i%benchKeys]); !found {
				b.Fatal("not found")
			}
			i++
		}
	})
}

func BenchmarkUpdateValue8B(b *testing.B) {
	s := NewValueState(Long, Void, Long)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.Update(int64(i%benchKeys), VoidNamespace{}, int64(i))
		i++
	}
}

func BenchmarkListAdd(b *testing.B) {
	s := NewListState(Long, Void, Long)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := int64(i % benchKeys)
		if i%(100*benchKeys) < benchKeys {
			s.Clear(k, VoidNamespace{}) // keep lists at most 100 long
		}
		s.Add(k, VoidNamespace{}, int64(i))
		i++
	}
}

func BenchmarkMapPutExisting100(b *testing.B) {
	s := NewMapState(Long, Void, Long, Long)
	m := make(map[int64]int64, 100)
	for i := range int64(100) {
		m[i] = i
	}
	for i := range 100 {
		s.PutAll(int64(i), VoidNamespace{}, m)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.Put(int64(i%100), VoidNamespace{}, int64(i%100), int64(i))
		i++
	}
}

// shardedMap is the first design the states used: 32 RWMutex-guarded Go
// maps, the shard chosen by maphash. Kept here as a baseline.
type shardedMap struct {
	seed   maphash.Seed
	shards [32]struct {
		mu sync.RWMutex
		m  map[string]*entry[int]
		_  [88]byte
	}
}

func (s *shardedMap) shard(kn []byte) int { return int(maphash.Bytes(s.seed, kn) & 31) }

// BenchmarkLookupDesigns compares ways to find a key's published answer
// from serialized key bytes while a writer replaces answers, with parallel
// readers: the lock-free open-addressing table the states use, 32
// RWMutex shards, one RWMutex, sync.Map (string(b) key, which copies), and
// an atomic copy-on-write snapshot of a Go map (lock-free reads, but a
// copy of every key per inserted key). insert measures adding new keys to
// a map that starts with 10,000 (and grows with b.N).
func BenchmarkLookupDesigns(b *testing.B) {
	kns := benchKNs()
	blobs := make([]*blob, len(kns))
	for i := range blobs {
		blobs[i] = newBlob(Long, int64(i))
	}
	type design struct {
		name   string
		insert func(kn []byte) *entry[int]
		lookup func(kn []byte) *entry[int]
	}
	var (
		lockFree table[int]
		sharded  = shardedMap{seed: maphash.MakeSeed()}
		single   sync.RWMutex
		singleM  = map[string]*entry[int]{}
		syncMap  sync.Map
		snapshot atomic.Pointer[map[string]*entry[int]]
	)
	lockFree.init()
	for i := range sharded.shards {
		sharded.shards[i].m = map[string]*entry[int]{}
	}
	snapshot.Store(&map[string]*entry[int]{})
	designs := []design{
		{"lock-free-table",
			func(kn []byte) *entry[int] {
				h := maphash.Bytes(lockFree.seed, kn)
				lockFree.insert(kn, h, 0, blobs[0])
				return lockFree.find(kn, h)
			},
			func(kn []byte) *entry[int] { return lockFree.find(kn, maphash.Bytes(lockFree.seed, kn)) }},
		{"sharded-rwmutex",
			func(kn []byte) *entry[int] {
				e := new(entry[int])
				sh := &sharded.shards[sharded.shard(kn)]
				sh.mu.Lock()
				sh.m[string(kn)] = e
				sh.mu.Unlock()
				return e
			},
			func(kn []byte) *entry[int] {
				sh := &sharded.shards[sharded.shard(kn)]
				sh.mu.RLock()
				e := sh.m[string(kn)]
				sh.mu.RUnlock()
				return e
			}},
		{"one-rwmutex",
			func(kn []byte) *entry[int] {
				e := new(entry[int])
				single.Lock()
				singleM[string(kn)] = e
				single.Unlock()
				return e
			},
			func(kn []byte) *entry[int] { single.RLock(); e := singleM[string(kn)]; single.RUnlock(); return e }},
		{"sync.Map",
			func(kn []byte) *entry[int] { e := new(entry[int]); syncMap.Store(string(kn), e); return e },
			func(kn []byte) *entry[int] {
				e, _ := syncMap.Load(string(kn))
				p, _ := e.(*entry[int])
				return p
			}},
		{"atomic-snapshot",
			func(kn []byte) *entry[int] {
				e := new(entry[int])
				old := *snapshot.Load()
				m := make(map[string]*entry[int], len(old)+1)
				for k, v := range old {
					m[k] = v
				}
				m[string(kn)] = e
				snapshot.Store(&m)
				return e
			},
			func(kn []byte) *entry[int] { return (*snapshot.Load())[string(kn)] }},
	}
	for _, d := range designs {
		entries := make([]*entry[int], len(kns))
		for i, kn := range kns {
			entries[i] = d.insert(kn)
			entries[i].pub.Store(blobs[i])
		}
		b.Run("lookup/"+d.name, func(b *testing.B) {
			writer(b, func(i int) { entries[i%len(entries)].pub.Store(blobs[(i+1)%len(blobs)]) })
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := rand.IntN(len(kns))
				for pb.Next() {
					e := d.lookup(kns[i%len(kns)])
					if e == nil || e.pub.Load() == nil {
						b.Fatal("missing")
					}
					i++
				}
			})
		})
		b.Run("insert/"+d.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				d.insert(knVoid(Long, int64(benchKeys+i)))
				i++
			}
		})
	}
}

// BenchmarkGetBatch compares Get one key after the other with GetBatch on
// the synthetic dataset's shape (Integer keys, 8-byte byte[] values) in
// tables larger than the CPU's caches, keys in random order, in batches of
// 16 and 128 (a wake-up's requests at 50x16 and 4x128). ns/key is the
// figure to compare; cpu-ns/key (the benchmark thread's CPU time) varies
// less on a machine shared with other work.
func BenchmarkGetBatch(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		s := NewValueState(Int, Void, Bytes)
		v := make([]byte, 8)
		for i := range int32(n) {
			s.Update(i, VoidNamespace{}, v)
		}
		r := rand.New(rand.NewPCG(1, 2))
		kns := make([][]byte, n) // as many random keys as the table holds: misses hit the whole table
		for i := range kns {
			kns[i] = knVoid(Int, r.Int32N(int32(n)))
		}
		benchGetAndGetBatch(b, fmt.Sprintf("keys=%d/", n), s, kns)
	}
}

// benchGetAndGetBatch runs, for batches of 16 and 128 of the keys kns (all
// present in s), one sub-benchmark looking them up one by one with Get and
// one with GetBatch, reporting wall-clock and thread-CPU nanoseconds per key.
func benchGetAndGetBatch(b *testing.B, prefix string, s BatchGetter, kns [][]byte) {
	for _, batch := range []int{16, 128} {
		ls := make([]Lookup, batch)
		b.Run(fmt.Sprintf("%sbatch=%d/get", prefix, batch), func(b *testing.B) {
			perKey(b, batch, func(i int) {
				for j := range ls {
					if _, found, _ := s.Get(kns[(i+j)%len(kns)]); !found {
						b.Fatal("missing")
					}
				}
			})
		})
		b.Run(fmt.Sprintf("%sbatch=%d/getbatch", prefix, batch), func(b *testing.B) {
			perKey(b, batch, func(i int) {
				for j := range ls {
					ls[j].KeyAndNamespace = kns[(i+j)%len(kns)]
				}
				s.GetBatch(ls)
				if !ls[0].Found {
					b.Fatal("missing")
				}
			})
		})
	}
}

// perKey runs step, which looks up batch keys from the i-th, in the
// benchmark loop on a locked thread, and reports wall-clock and
// thread-CPU nanoseconds per key.
func perKey(b *testing.B, batch int, step func(i int)) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu := threadCPU()
	i := 0
	for b.Loop() {
		step(i)
		i += batch
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/key")
	b.ReportMetric(float64((threadCPU()-cpu).Nanoseconds())/float64(b.N*batch), "cpu-ns/key")
}

// BenchmarkTableMemory inserts a million keys of the synthetic dataset's
// shape (Integer keys, 8-byte byte[] values) into a fresh ValueState and
// reports what that costs: ns per insert, heap bytes per key and resident
// bytes per key after a collection (the latter counts memory outside the
// Go heap too), the memory in transparent huge pages, and the time of a full collection (runtime.GC, the
// median of three) with the million keys live. Run it with
// -test.benchtime 1x.
func BenchmarkTableMemory(b *testing.B) {
	const n = 1_000_000
	v := make([]byte, 8)
	var (
		s        *ValueState[int32, VoidNamespace, []byte]
		ms0, ms1 runtime.MemStats
		rss0     int64
	)
	for b.Loop() {
		b.StopTimer()
		s = nil
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		rss0 = residentBytes(b)
		b.StartTimer()
		s = NewValueState(Int, Void, Bytes)
		for i := range int32(n) {
			s.Update(i, VoidNamespace{}, v)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/insert")
	var gcs []time.Duration
	for range 3 {
		t0 := time.Now()
		runtime.GC()
		gcs = append(gcs, time.Since(t0))
	}
	slices.Sort(gcs)
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(int64(ms1.HeapAlloc)-int64(ms0.HeapAlloc))/n, "heap-B/key")
	b.ReportMetric(float64(residentBytes(b)-rss0)/n, "rss-B/key")
	b.ReportMetric(float64(gcs[1].Microseconds()), "gc-µs")
	b.ReportMetric(float64(anonHugeBytes())/(1<<20), "huge-MiB")
	runtime.KeepAlive(s)
}

// anonHugeBytes is the process's memory in transparent huge pages (Linux;
// 0 elsewhere).
func anonHugeBytes() int64 {
	raw, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(raw)) {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "AnonHugePages:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// residentBytes is the process's resident set (Linux; 0 elsewhere).
func residentBytes(b *testing.B) int64 {
	raw, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(raw))
	if len(f) < 2 {
		b.Fatalf("statm: %q", raw)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

// BenchmarkGetBatchLong is BenchmarkGetBatch for a ValueState of Long keys
// and Long values at 1M keys: its entries are smaller than those of byte[]
// values (8 bytes of typed data), which changes how they sit on cache lines.
func BenchmarkGetBatchLong(b *testing.B) {
	const n = 1_000_000
	s := NewValueState(Long, Void, Long)
	for i := range int64(n) {
		s.Update(i, VoidNamespace{}, i)
	}
	r := rand.New(rand.NewPCG(1, 2))
	kns := make([][]byte, n)
	for i := range kns {
		kns[i] = knVoid(Long, r.Int64N(n))
	}
	benchGetAndGetBatch(b, "", s, kns)
}
