//go:build !race

package registry

import "testing"

// TestLookupsDoNotAllocate proves the registry's look-ups allocate nothing
// (the hot path: decode -> registry -> Get -> encode).
func TestLookupsDoNotAllocate(t *testing.T) {
	r, id, name := benchRegistry()
	var sink int
	for what, fn := range map[string]func(){
		"KvState": func() {
			if _, ok := r.KvState(id); ok {
				sink++
			}
		},
		"Location+Owner": func() {
			if loc, ok := r.Location(job1, name); ok {
				if o, ok := loc.Owner(loc.KeyGroup(99162322)); ok {
					sink += len(o.Addr) + 1
				}
			}
		},
		"Location miss": func() {
			if _, ok := r.Location(job2, name); !ok {
				sink++
			}
		},
	} {
		if n := testing.AllocsPerRun(1000, fn); n != 0 {
			t.Errorf("%s: %v allocs per run", what, n)
		}
	}
	if sink == 0 {
		t.Fatal("look-ups found nothing")
	}
}
