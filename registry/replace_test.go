package registry

import (
	"sync"
	"sync/atomic"
	"testing"
)

// TestReplace: Replace moves key groups between owners in one change; a
// failing Replace changes nothing; readers never see a moved key group
// without an owner (I1).
func TestReplace(t *testing.T) {
	r := New()
	local := mustRegister(t, r, job1, "s", KeyGroupRange{Start: 0, End: 63}, 128, fakeState("a"))
	remote := KvStateID{0xaa, 1}
	if err := r.RegisterRemote(job1, "s", KeyGroupRange{Start: 64, End: 127}, 128, remote, "10.0.0.2:1"); err != nil {
		t.Fatal(err)
	}

	// Shrink the local range under a new ID and give the rest to another node.
	shrunk, other := KvStateID{0xbb, 2}, KvStateID{0xcc, 3}
	err := r.Replace([]KvStateID{local}, []Registration{
		{ID: shrunk, Job: job1, Name: "s", KeyGroups: KeyGroupRange{Start: 0, End: 31}, MaxParallelism: 128, State: fakeState("a")},
		{ID: other, Job: job1, Name: "s", KeyGroups: KeyGroupRange{Start: 32, End: 63}, MaxParallelism: 128, Addr: "10.0.0.3:1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	loc, _ := r.Location(job1, []byte("s"))
	for kg, want := range map[int]Owner{0: {ID: shrunk}, 31: {ID: shrunk}, 32: {ID: other, Addr: "10.0.0.3:1"}, 127: {ID: remote, Addr: "10.0.0.2:1"}} {
		if o, ok := loc.Owner(kg); !ok || o != want {
			t.Errorf("owner of key group %d = %v, %v; want %v", kg, o, ok, want)
		}
	}
	if _, ok := r.KvState(local); ok {
		t.Error("the replaced ID still answers")
	}
	if s, ok := r.KvState(shrunk); !ok || s != fakeState("a") {
		t.Error("the new local ID does not answer")
	}

	// All or nothing: an overlap in the second entry leaves the first undone.
	before := r.load()
	err = r.Replace([]KvStateID{other}, []Registration{
		{ID: KvStateID{0xdd}, Job: job1, Name: "s", KeyGroups: KeyGroupRange{Start: 32, End: 40}, MaxParallelism: 128, Addr: "x:1"},
		{ID: KvStateID{0xee}, Job: job1, Name: "s", KeyGroups: KeyGroupRange{Start: 0, End: 0}, MaxParallelism: 128, Addr: "x:1"},
	})
	expectErr(t, err, ErrNameClash)
	if r.load() != before {
		t.Error("a failed Replace changed the registry")
	}
	expectErr(t, r.Replace([]KvStateID{{0x99}}, nil), ErrUnknownKvStateID)
	expectErr(t, r.Replace(nil, []Registration{{ID: KvStateID{0x98}, Job: job1, Name: "s", KeyGroups: KeyGroupRange{Start: 32, End: 32}, MaxParallelism: 128}}), ErrNoAddr)
	expectErr(t, r.Replace(nil, []Registration{{ID: shrunk, Job: job2, Name: "t", KeyGroups: KeyGroupRange{Start: 0, End: 0}, MaxParallelism: 1, Addr: "x:1"}}), ErrDuplicateKvStateID)

	// Readers during repeated moves of key groups 32-63 always find an owner.
	var stop atomic.Bool
	var wg sync.WaitGroup
	var missing atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			l, ok := r.Location(job1, []byte("s"))
			if !ok {
				missing.Add(1)
				continue
			}
			if _, ok := l.Owner(40); !ok {
				missing.Add(1)
			}
		}
	}()
	cur := other
	for i := range 200 {
		next := KvStateID{0x10, byte(i), byte(i >> 8)}
		if err := r.Replace([]KvStateID{cur}, []Registration{{ID: next, Job: job1, Name: "s", KeyGroups: KeyGroupRange{Start: 32, End: 63}, MaxParallelism: 128, Addr: "10.0.0.4:1"}}); err != nil {
			t.Fatal(err)
		}
		cur = next
	}
	stop.Store(true)
	wg.Wait()
	if n := missing.Load(); n != 0 {
		t.Errorf("%d look-ups found key group 40 without an owner during the moves", n)
	}
}
