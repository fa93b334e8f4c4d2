//go:build !race

package state

import (
	"bytes"
	"testing"
)

// TestGetDoesNotAllocate proves I3: KvState.Get allocates nothing for a hit
// or a miss of canonical bytes, on every state kind, including answers
// grown in place and re-serialized ones.
func TestGetDoesNotAllocate(t *testing.T) {
	v8 := NewValueState(Long, Void, Long)
	v1k := NewValueState(String, Void, Bytes)
	list := NewListState(Tuple2Of(Int, String), Void, Long)
	mp := NewMapState(Long, String, Long, Long)
	red := NewReducingState(Int, Void, Double, func(a, b float64) float64 { return a + b })
	for i := range int64(100) {
		v8.Update(i, VoidNamespace{}, i)
		v1k.Update("k", VoidNamespace{}, bytes.Repeat([]byte{1}, 1020))
		list.Add(Tuple2[int32, string]{1, "a"}, VoidNamespace{}, i)
		mp.Put(5, "window", i, i)
		red.Add(1, VoidNamespace{}, 0.5)
	}
	mp.Put(5, "window", 3, 1<<40) // replaced: re-serialized around the segment
	cases := map[string]struct {
		s     KvState
		kn    []byte
		found bool
	}{
		"value 8B":           {v8, knVoid(Long, 42), true},
		"value 1KiB":         {v1k, knVoid(String, "k"), true},
		"list 100 tuple key": {list, knVoid(Tuple2Of(Int, String), Tuple2[int32, string]{1, "a"}), true},
		"map 100 string ns":  {mp, AppendKeyAndNamespace(nil, Long, 5, String, "window"), true},
		"reducing":           {red, knVoid(Int, 1), true},
		"value miss":         {v8, knVoid(Long, 1000), false},
		"string key miss":    {v1k, knVoid(String, "some absent key, longer than 32 bytes to be sure"), false},
		"tuple key miss":     {list, knVoid(Tuple2Of(Int, String), Tuple2[int32, string]{2, "日本"}), false},
		"map namespace miss": {mp, AppendKeyAndNamespace(nil, Long, 5, String, "other"), false},
	}
	for name, c := range cases {
		n := testing.AllocsPerRun(1000, func() {
			if _, found, err := c.s.Get(c.kn); found != c.found || err != nil {
				t.Fatalf("%s: found %v, %v", name, found, err)
			}
		})
		if n != 0 {
			t.Errorf("%s: %v allocs per Get", name, n)
		}
	}
}

// TestGetBatchDoesNotAllocate: GetBatch allocates nothing for hits and
// misses of canonical bytes, in groups and beyond.
func TestGetBatchDoesNotAllocate(t *testing.T) {
	s := NewValueState(Long, Void, Long)
	for i := range int64(1000) {
		s.Update(i, VoidNamespace{}, i)
	}
	ls := make([]Lookup, 40)
	for i := range ls {
		ls[i].KeyAndNamespace = knVoid(Long, int64(i*37)) // misses from 1000 on
	}
	n := testing.AllocsPerRun(1000, func() {
		s.GetBatch(ls)
		if !ls[0].Found || ls[39].Found {
			t.Fatalf("GetBatch: %+v", ls)
		}
	})
	if n != 0 {
		t.Errorf("%v allocs per GetBatch of %d", n, len(ls))
	}
}
