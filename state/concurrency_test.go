package state

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/qstate/qstate/internal/qstatetest"
)

// Concurrency tests: writers publish answers that carry a generation in
// every part (every byte of a value, every list element, every map value);
// readers query concurrently and check that every answer is whole (all
// parts of one generation: never torn or mixed) and, since each key has
// one writer, that generations never go backwards. Run them with -race.

const (
	concKeys    = 8
	concWriters = 2 // writer w owns keys k with k%concWriters == w
	concReaders = 3
)

func concGens() int {
	if testing.Short() {
		return 200
	}
	return 1500
}

// runConcurrent starts the writers and the readers, waits for the writers,
// then stops the readers. read returns the generation of the answer for
// key k, or -1 when there is none, or an error for a torn answer.
func runConcurrent(t *testing.T, write func(w, k, gen int), read func(k int) (int, error)) {
	t.Helper()
	var writers, readers sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan error, concReaders)
	var ready sync.WaitGroup // every reader has read once: the writers start
	ready.Add(concReaders)
	for w := 0; w < concWriters; w++ {
		writers.Go(func() {
			ready.Wait()
			for gen := 1; gen <= concGens(); gen++ {
				for k := w; k < concKeys; k += concWriters {
					write(w, k, gen)
				}
			}
		})
	}
	reads := make([]int, concReaders)
	for r := 0; r < concReaders; r++ {
		readers.Go(func() {
			last := make([]int, concKeys)
			for i := 0; !qstatetest.IsClosed(done); i++ {
				k := i % concKeys
				gen, err := read(k)
				if err == nil && gen >= 0 && gen < last[k] {
					err = fmt.Errorf("key %d: generation %d after %d", k, gen, last[k])
				}
				if err != nil {
					errs <- err
					if reads[r] == 0 {
						ready.Done()
					}
					return
				}
				if gen >= 0 {
					last[k] = gen
				}
				if reads[r]++; reads[r] == 1 {
					ready.Done()
				}
			}
		})
	}
	writers.Wait()
	close(done)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for r, n := range reads {
		if n < 2 {
			t.Errorf("reader %d read only %d times", r, n)
		}
	}
}

func TestConcurrentValueState(t *testing.T) {
	s := NewValueState(Int, Void, Bytes)
	runConcurrent(t,
		func(_, k, gen int) {
			// 1..300 bytes, all equal to the generation's low byte, plus the
			// generation in the length: torn = bytes differ.
			v := bytes.Repeat([]byte{byte(gen)}, 1+gen%300)
			s.Update(int32(k), VoidNamespace{}, v)
			if gen%97 == 0 {
				s.Clear(int32(k), VoidNamespace{})
			}
		},
		func(k int) (int, error) {
			ans, found, err := s.Get(knVoid(Int, int32(k)))
			if err != nil || !found {
				return -1, err
			}
			v, rest, err := Bytes.Read(ans)
			if err != nil || len(rest) != 0 {
				return 0, fmt.Errorf("value %x: %v", ans, err)
			}
			g := v[0]
			for _, c := range v {
				if c != g {
					return 0, fmt.Errorf("torn value %x", v)
				}
			}
			// Recover the generation from length and byte (gen <= 1500).
			for gen := int(g); gen <= concGens(); gen += 256 {
				if 1+gen%300 == len(v) {
					return gen, nil
				}
			}
			return 0, fmt.Errorf("value %x of no generation", v)
		})
}

func TestConcurrentListState(t *testing.T) {
	s := NewListState(Int, Void, Long)
	runConcurrent(t,
		func(_, k, gen int) {
			// A new generation replaces the list, then grows it in place.
			s.Update(int32(k), VoidNamespace{}, []int64{int64(gen), int64(gen)})
			for i := 0; i < gen%5; i++ {
				s.Add(int32(k), VoidNamespace{}, int64(gen))
			}
			s.AddAll(int32(k), VoidNamespace{}, []int64{int64(gen), int64(gen)})
		},
		func(k int) (int, error) {
			ans, found, err := s.Get(knVoid(Int, int32(k)))
			if err != nil || !found {
				return -1, err
			}
			elems, err := ReadList(Long, ans)
			if err != nil || len(elems) < 2 {
				return 0, fmt.Errorf("list %x: %v, %v", ans, elems, err)
			}
			for _, e := range elems {
				if e != elems[0] {
					return 0, fmt.Errorf("mixed list %v", elems)
				}
			}
			return int(elems[0]), nil
		})
}

func TestConcurrentMapState(t *testing.T) {
	s := NewMapState(Int, Void, String, Long)
	runConcurrent(t,
		func(_, k, gen int) {
			kk := int32(k)
			switch gen % 3 {
			case 0: // replace every entry at once (re-serialized)
				m := map[string]int64{}
				for i := 0; i < 1+gen%7; i++ {
					m[fmt.Sprint("e", i)] = int64(gen)
				}
				s.Clear(kk, VoidNamespace{})
				s.PutAll(kk, VoidNamespace{}, m)
			case 1: // new user keys appended in place after a reset
				s.Clear(kk, VoidNamespace{})
				s.PutAll(kk, VoidNamespace{}, map[string]int64{fmt.Sprint("g", gen): int64(gen), "x": int64(gen)})
			case 2: // remove one, rewrite the rest
				m := s.Entries(kk, VoidNamespace{})
				for uk := range m {
					s.Remove(kk, VoidNamespace{}, uk)
					delete(m, uk)
					break
				}
				for uk := range m {
					m[uk] = int64(gen)
				}
				s.PutAll(kk, VoidNamespace{}, m)
			}
		},
		func(k int) (int, error) {
			ans, found, err := s.Get(knVoid(Int, int32(k)))
			if err != nil || !found {
				return -1, err
			}
			m, err := ReadMap(String, Long, ans)
			if err != nil || len(m) == 0 {
				return 0, fmt.Errorf("map %x: %v, %v", ans, m, err)
			}
			gen := int64(-1)
			for _, v := range m {
				if v == nil || (gen >= 0 && *v != gen) {
					return 0, fmt.Errorf("mixed map %x", ans)
				}
				gen = *v
			}
			// Case 2 keeps the old generation's values when it removed the
			// only entry: generations are still monotonic per key.
			return int(gen), nil
		})
}

func TestConcurrentReducingState(t *testing.T) {
	pair := Tuple2Of(Long, Long)
	s := NewReducingState(Int, Void, pair, func(a, b Tuple2[int64, int64]) Tuple2[int64, int64] {
		return Tuple2[int64, int64]{a.F0 + b.F0, a.F1 + b.F1}
	})
	runConcurrent(t,
		func(_, k, _ int) { s.Add(int32(k), VoidNamespace{}, Tuple2[int64, int64]{1, -1}) },
		func(k int) (int, error) {
			ans, found, err := s.Get(knVoid(Int, int32(k)))
			if err != nil || !found {
				return -1, err
			}
			v, _, err := pair.Read(ans)
			if err != nil || v.F1 != -v.F0 {
				return 0, fmt.Errorf("torn pair %x: %v", ans, err)
			}
			return int(v.F0), nil
		})
}

func TestConcurrentAggregatingState(t *testing.T) {
	accSer := Tuple2Of(Long, Long)
	s := NewAggregatingState(Int, Void, accSer, avg{})
	runConcurrent(t,
		func(_, k, _ int) { s.Add(int32(k), VoidNamespace{}, 3) },
		func(k int) (int, error) {
			ans, found, err := s.Get(knVoid(Int, int32(k)))
			if err != nil || !found {
				return -1, err
			}
			acc, _, err := accSer.Read(ans)
			if err != nil || acc.F0 != 3*acc.F1 {
				return 0, fmt.Errorf("torn accumulator %x: %v", ans, err)
			}
			return int(acc.F1), nil
		})
}

// TestConcurrentWritersSameKey has several writers on one key: every answer
// must still be one some writer wrote whole.
func TestConcurrentWritersSameKey(t *testing.T) {
	s := NewListState(Int, Void, Long)
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := 0; w < 3; w++ {
		wg.Go(func() {
			for i := 0; i < concGens(); i++ {
				g := int64(w*1_000_000 + i)
				if i%4 == 0 {
					s.Update(0, VoidNamespace{}, []int64{g})
				} else {
					s.Update(0, VoidNamespace{}, []int64{g, g, g})
				}
			}
		})
	}
	var rg sync.WaitGroup
	rg.Go(func() {
		for !qstatetest.IsClosed(done) {
			ans, found, err := s.Get(knVoid(Int, 0))
			if err != nil {
				t.Error(err)
				return
			}
			if !found {
				continue
			}
			elems, err := ReadList(Long, ans)
			if err != nil || (len(elems) != 1 && len(elems) != 3) {
				t.Errorf("list %x: %v", ans, err)
				return
			}
			for _, e := range elems {
				if e != elems[0] {
					t.Errorf("mixed list %v", elems)
					return
				}
			}
		}
	})
	wg.Wait()
	close(done)
	rg.Wait()
}
