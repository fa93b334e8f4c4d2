package state

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestMapStateModel runs random operations on a MapState and on a plain Go
// map and checks after each that the published content reads back to the
// model (segments stay contiguous and correct through appends, replaces of
// different sizes and removes).
func TestMapStateModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := NewMapState(Int, Void, String, String)
	models := map[int32]map[string]string{}
	for op := 0; op < 5000; op++ {
		k := int32(rng.IntN(3))
		uk := string(rune('a' + rng.IntN(12)))
		m := models[k]
		switch r := rng.IntN(10); {
		case r < 6:
			uv := strings.Repeat("v", rng.IntN(200)) // sizes cross varint boundaries
			s.Put(k, VoidNamespace{}, uk, uv)
			if m == nil {
				m = map[string]string{}
				models[k] = m
			}
			m[uk] = uv
		case r < 9:
			s.Remove(k, VoidNamespace{}, uk)
			delete(m, uk)
			if len(m) == 0 {
				delete(models, k)
			}
		default:
			s.Clear(k, VoidNamespace{})
			delete(models, k)
		}
		ans, found, err := s.Get(knVoid(Int, k))
		m = models[k]
		if err != nil || found != (len(m) > 0) {
			t.Fatalf("op %d: Get = %v, %v; model %v", op, found, err, m)
		}
		back, err := ReadMap(String, String, ans)
		if err != nil || len(back) != len(m) {
			t.Fatalf("op %d: content %x reads %d entries (%v), model %d", op, ans, len(back), err, len(m))
		}
		for uk, uv := range m {
			if back[uk] == nil || *back[uk] != uv {
				t.Fatalf("op %d: content[%q] = %v, model %q", op, uk, back[uk], uv)
			}
			if got, ok := s.Lookup(k, VoidNamespace{}, uk); !ok || got != uv {
				t.Fatalf("op %d: Lookup(%q) = %q, %v", op, uk, got, ok)
			}
		}
		if e := s.Entries(k, VoidNamespace{}); len(e) != len(m) {
			t.Fatalf("op %d: Entries %d, model %d", op, len(e), len(m))
		}
	}
}

func TestListStateModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	s := NewListState(Int, Void, String)
	models := map[int32][]string{}
	for op := 0; op < 3000; op++ {
		k := int32(rng.IntN(3))
		v := strings.Repeat("x", rng.IntN(150))
		switch r := rng.IntN(10); {
		case r < 6:
			s.Add(k, VoidNamespace{}, v)
			models[k] = append(models[k], v)
		case r < 8:
			vs := []string{v, v + "y"}[:rng.IntN(3)%2+rng.IntN(2)]
			s.AddAll(k, VoidNamespace{}, vs)
			models[k] = append(models[k], vs...)
		case r < 9:
			vs := []string{v}[:rng.IntN(2)]
			s.Update(k, VoidNamespace{}, vs)
			models[k] = slices.Clone(vs)
		default:
			s.Clear(k, VoidNamespace{})
			models[k] = nil
		}
		ans, found, err := s.Get(knVoid(Int, k))
		if err != nil || found != (len(models[k]) > 0) {
			t.Fatalf("op %d: Get = %v, %v; model %d elements", op, found, err, len(models[k]))
		}
		back, err := ReadList(String, ans)
		if err != nil || !slices.Equal(back, models[k]) {
			t.Fatalf("op %d: content reads %d elements (%v), model %d", op, len(back), err, len(models[k]))
		}
		if got := s.Elements(k, VoidNamespace{}); !slices.Equal(got, models[k]) {
			t.Fatalf("op %d: Elements differ", op)
		}
	}
}
