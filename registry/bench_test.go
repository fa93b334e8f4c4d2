package registry

import (
	"fmt"
	"testing"
)

// benchRegistry has 100 jobs with 10 states each, every state in 4 ranges
// of 128 key groups, and returns one KvStateID and one name.
func benchRegistry() (*Registry, KvStateID, []byte) {
	r := New()
	var id KvStateID
	for j := 0; j < 100; j++ {
		job := JobID{byte(j)}
		if j == 1 {
			job = job1
		}
		for s := 0; s < 10; s++ {
			for op := 0; op < 4; op++ {
				x, err := r.Register(job, fmt.Sprint("state-", s), KeyGroupRangeFor(128, 4, op), 128, fakeState("x"))
				if err != nil {
					panic(err)
				}
				id = x
			}
		}
	}
	return r, id, []byte("state-3")
}

func BenchmarkKvStateByID(b *testing.B) {
	r, id, _ := benchRegistry()
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := r.KvState(id); !ok {
			b.Fatal("missing")
		}
	}
}

func BenchmarkLocationByJobAndName(b *testing.B) {
	r, _, name := benchRegistry()
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := r.Location(job1, name); !ok {
			b.Fatal("missing")
		}
	}
}

// BenchmarkLocationOwner is the proxy's whole routing step: location,
// key group of the hash, owner of the key group.
func BenchmarkLocationOwner(b *testing.B) {
	r, _, name := benchRegistry()
	b.ReportAllocs()
	h := int32(0)
	for b.Loop() {
		loc, ok := r.Location(job1, name)
		if !ok {
			b.Fatal("missing")
		}
		if _, ok := loc.Owner(loc.KeyGroup(h)); !ok {
			b.Fatal("no owner")
		}
		h++
	}
}

func BenchmarkRegisterUnregister(b *testing.B) {
	r, _, _ := benchRegistry()
	b.ReportAllocs()
	for b.Loop() {
		id, err := r.Register(job2, "extra", KeyGroupRange{0, 127}, 128, fakeState("x"))
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Unregister(id); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMurmurKeyGroup(b *testing.B) {
	h, s := int32(0), 0
	for b.Loop() {
		s += KeyGroupForHash(h, 128)
		h++
	}
	_ = s
}
