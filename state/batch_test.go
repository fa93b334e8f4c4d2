package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sync"
	"testing"

	"github.com/qstate/qstate/internal/qstatetest"
)

// TestGetBatchMatchesGet: GetBatch answers every key as Get does, for
// batches shorter than, equal to and longer than a group, with present,
// cleared (tombstoned) and absent keys, keys in a collision chain, bytes
// that do not parse and a non-canonical form of a present key.
func TestGetBatchMatchesGet(t *testing.T) {
	const n = 3000
	s := NewValueState(Long, Void, Long)
	for i := range int64(n) {
		s.Update(i, VoidNamespace{}, i*7)
	}
	for i := int64(0); i < n; i += 5 {
		s.Clear(i, VoidNamespace{}) // tombstones in the probe chains
	}
	var kns [][]byte
	for i := range int64(n + 200) { // 200 absent
		kns = append(kns, knVoid(Long, i))
	}
	nonCanonical := knVoid(Long, 3)
	nonCanonical[len(nonCanonical)-1] = 1 // a VoidNamespace byte other than 0
	kns = append(kns, []byte{1, 2, 3}, nonCanonical, nil)

	for _, size := range []int{0, 1, batchGroup - 1, batchGroup, batchGroup + 1, len(kns)} {
		ls := make([]Lookup, 0, size)
		for i := 0; i < len(kns); i += max(size, 1) {
			ls = ls[:0]
			for _, kn := range kns[i:min(i+size, len(kns))] {
				ls = append(ls, Lookup{KeyAndNamespace: kn})
			}
			s.GetBatch(ls)
			for _, l := range ls {
				v, found, err := s.Get(l.KeyAndNamespace)
				if !bytes.Equal(l.Value, v) || l.Found != found || (l.Err == nil) != (err == nil) {
					t.Fatalf("batch of %d, key %x: GetBatch %x, %v, %v; Get %x, %v, %v", size, l.KeyAndNamespace, l.Value, l.Found, l.Err, v, found, err)
				}
				if err != nil && !errors.Is(l.Err, ErrBadKeyAndNamespace) {
					t.Fatalf("key %x: error %v, want ErrBadKeyAndNamespace", l.KeyAndNamespace, l.Err)
				}
			}
		}
	}
	// Spot checks against the data itself, not only against Get.
	ls := []Lookup{{KeyAndNamespace: knVoid(Long, 6)}, {KeyAndNamespace: knVoid(Long, 5)}, {KeyAndNamespace: nonCanonical}}
	s.GetBatch(ls)
	if !ls[0].Found || int64(binary.BigEndian.Uint64(ls[0].Value)) != 42 || ls[1].Found || !ls[2].Found || int64(binary.BigEndian.Uint64(ls[2].Value)) != 21 {
		t.Fatalf("GetBatch: %+v", ls)
	}
}

// TestGetBatchWhileWriting: GetBatch running beside writers that update,
// clear and re-insert keys (growing the table) only ever returns a value
// published for that key.
func TestGetBatchWhileWriting(t *testing.T) {
	const n = 512
	s := NewValueState(Long, Void, Long)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for round := int64(0); !qstatetest.IsClosed(stop); round++ {
			for k := range int64(n) {
				if (k+round)%7 == 0 {
					s.Clear(k, VoidNamespace{})
				} else {
					s.Update(k, VoidNamespace{}, k+n*round) // value % n == key
				}
			}
		}
	})
	ls := make([]Lookup, n)
	for rep := range 200 {
		for k := range ls {
			ls[k] = Lookup{KeyAndNamespace: knVoid(Long, int64((k+rep)%n))}
		}
		s.GetBatch(ls)
		for k, l := range ls {
			if l.Err != nil {
				t.Fatalf("key %d: %v", (k+rep)%n, l.Err)
			}
			if l.Found && int64(binary.BigEndian.Uint64(l.Value))%n != int64((k+rep)%n) {
				t.Fatalf("key %d: value %d was never published for it", (k+rep)%n, binary.BigEndian.Uint64(l.Value))
			}
		}
	}
	close(stop)
	wg.Wait()
}
