package pebblestate

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/qstate/qstate/state"
)

// openTemp opens a store in a fresh temporary directory, closed at the end
// of the test.
func openTemp(t testing.TB, o Options) (*DB, string) {
	t.Helper()
	dir := t.TempDir()
	d, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d, dir
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func kn[K, N any](ks state.Serializer[K], k K, ns state.Serializer[N], n N) []byte {
	return state.AppendKeyAndNamespace(nil, ks, k, ns, n)
}

// sameAnswer fails unless the heap and Pebble answers for kn agree byte
// for byte (or, for maps, entry for entry: mapEntries splits them).
func sameAnswer(t *testing.T, what string, heap, disk state.KvState, q []byte, split func([]byte) []string) {
	t.Helper()
	hv, hf, herr := heap.Get(q)
	dv, df, derr := disk.Get(q)
	if herr != nil || derr != nil || hf != df {
		t.Fatalf("%s: heap %x %v %v, pebble %x %v %v", what, hv, hf, herr, dv, df, derr)
	}
	// AppendGet appends the same bytes after what dst holds.
	out, found, err := disk.(state.Appender).AppendGet([]byte("xy"), q)
	if err != nil || found != df || string(out[:2]) != "xy" || !bytes.Equal(out[2:], dv) {
		t.Fatalf("%s: AppendGet = %x, %v, %v", what, out, found, err)
	}
	if split == nil {
		if !bytes.Equal(hv, dv) {
			t.Fatalf("%s: heap %x, pebble %x", what, hv, dv)
		}
		return
	}
	he, de := split(hv), split(dv)
	slices.Sort(he)
	if !slices.Equal(he, de) || len(hv) != len(dv) {
		t.Fatalf("%s: heap entries %x, pebble %x (pebble's must be in user-key order)", what, he, de)
	}
}

// mapEntries splits String->String map content into its entries' bytes.
func mapEntries(t *testing.T) func([]byte) []string {
	return func(b []byte) []string {
		var out []string
		for len(b) > 0 {
			rest, _, err := state.String.(state.Skipper).Skip(b)
			if err != nil || len(rest) == 0 || rest[0] != 0 {
				t.Fatalf("map content %x: bad entry", b)
			}
			rest, _, err = state.String.(state.Skipper).Skip(rest[1:])
			if err != nil {
				t.Fatalf("map content %x: bad value", b)
			}
			out = append(out, string(b[:len(b)-len(rest)]))
			b = rest
		}
		return out
	}
}

type sum struct{}

func (sum) CreateAccumulator() int64      { return 100 }
func (sum) Add(in int32, acc int64) int64 { return acc + int64(in) }
func (sum) Result(acc int64) string       { return fmt.Sprint(acc) }
func concat(a, b string) string           { return a + "|" + b }
func randString(rng *rand.Rand, n int) string {
	return strings.Repeat(string(rune('a'+rng.IntN(26))), rng.IntN(n))
}

// TestModelAgainstHeap runs the same random operations on a heap state and
// on a Pebble state of every kind (String keys, String namespaces, values
// and elements whose sizes cross varint boundaries, non-ASCII keys), commits
// at random points, and checks after each commit that every key and
// namespace answers the same bytes on both, and the typed reads agree (P1).
func TestModelAgainstHeap(t *testing.T) {
	d, _ := openTemp(t, Options{MaxParallelism: 300}) // 2-byte key-group prefix
	rng := rand.New(rand.NewPCG(7, 11))
	keys := []string{"alice", "bob", "ünïcode", "𝄞clef", ""}
	nss := []string{"w1", "w2"}

	hv := state.NewValueState(state.String, state.String, state.String)
	pv, err := NewValueState(d, "value", state.String, state.String, state.String)
	must(t, err)
	hl := state.NewListState(state.String, state.String, state.String)
	pl, err := NewListState(d, "list", state.String, state.String, state.String)
	must(t, err)
	hm := state.NewMapState(state.String, state.String, state.String, state.String)
	pm, err := NewMapState(d, "map", state.String, state.String, state.String, state.String)
	must(t, err)
	hr := state.NewReducingState(state.String, state.String, state.String, concat)
	pr, err := NewReducingState(d, "reducing", state.String, state.String, state.String, concat)
	must(t, err)
	ha := state.NewAggregatingState[string, string, int32, int64, string](state.String, state.String, state.Long, sum{})
	pa, err := NewAggregatingState[string, string, int32, int64, string](d, "aggregating", state.String, state.String, state.Long, sum{})
	must(t, err)

	split := mapEntries(t)
	check := func(op int) {
		t.Helper()
		must(t, d.Commit())
		for _, k := range keys {
			for _, n := range nss {
				q := kn(state.String, k, state.String, n)
				what := fmt.Sprintf("op %d key %q ns %q", op, k, n)
				sameAnswer(t, what+" value", hv, pv, q, nil)
				sameAnswer(t, what+" list", hl, pl, q, nil)
				sameAnswer(t, what+" map", hm, pm, q, split)
				sameAnswer(t, what+" reducing", hr, pr, q, nil)
				sameAnswer(t, what+" aggregating", ha, pa, q, nil)
				if got, err := pl.Elements(k, n); err != nil || !slices.Equal(got, hl.Elements(k, n)) {
					t.Fatalf("%s: Elements %q, %v; heap %q", what, got, err, hl.Elements(k, n))
				}
				hmE := hm.Entries(k, n)
				pmE, err := pm.Entries(k, n)
				if err != nil || len(pmE) != len(hmE) {
					t.Fatalf("%s: Entries %v, %v; heap %v", what, pmE, err, hmE)
				}
				for uk, uv := range hmE {
					if pmE[uk] != uv {
						t.Fatalf("%s: Entries[%q] = %q, heap %q", what, uk, pmE[uk], uv)
					}
				}
				hres, hok := ha.Result(k, n)
				pres, pok, err := pa.Result(k, n)
				if err != nil || hres != pres || hok != pok {
					t.Fatalf("%s: Result %q %v %v, heap %q %v", what, pres, pok, err, hres, hok)
				}
			}
		}
	}
	for op := range 1500 {
		k, n := keys[rng.IntN(len(keys))], nss[rng.IntN(len(nss))]
		v := randString(rng, 200)
		switch rng.IntN(16) {
		case 0, 1:
			hv.Update(k, n, v)
			must(t, pv.Update(k, n, v))
		case 2:
			hv.Clear(k, n)
			must(t, pv.Clear(k, n))
		case 3, 4:
			hl.Add(k, n, v)
			must(t, pl.Add(k, n, v))
		case 5:
			vs := []string{v, v + "x", "y"}[:rng.IntN(4)]
			hl.AddAll(k, n, vs)
			must(t, pl.AddAll(k, n, vs))
		case 6:
			vs := []string{v, "z"}[:rng.IntN(3)]
			hl.Update(k, n, vs)
			must(t, pl.Update(k, n, vs))
		case 7:
			hl.Clear(k, n)
			must(t, pl.Clear(k, n))
		case 8, 9:
			uk := string(rune('a' + rng.IntN(8)))
			hm.Put(k, n, uk, v)
			must(t, pm.Put(k, n, uk, v))
		case 10:
			uk := string(rune('a' + rng.IntN(8)))
			hm.Remove(k, n, uk)
			must(t, pm.Remove(k, n, uk))
			hval, hok := hm.Lookup(k, n, uk)
			pval, pok, err := pm.Lookup(k, n, uk)
			if err != nil || hok != pok || hval != pval {
				t.Fatalf("op %d: Lookup after Remove: %q %v %v", op, pval, pok, err)
			}
		case 11:
			hm.Clear(k, n)
			must(t, pm.Clear(k, n))
		case 12:
			hr.Add(k, n, v)
			must(t, pr.Add(k, n, v))
			hval, _ := hr.Value(k, n)
			if pval, _, err := pr.Value(k, n); err != nil || pval != hval {
				t.Fatalf("op %d: reduced %q %v, heap %q", op, pval, err, hval)
			}
		case 13:
			hr.Clear(k, n)
			must(t, pr.Clear(k, n))
		case 14:
			in := rng.Int32N(1000) - 500
			ha.Add(k, n, in)
			must(t, pa.Add(k, n, in))
		case 15:
			ha.Clear(k, n)
			must(t, pa.Clear(k, n))
		}
		hval, hok := hv.Value(k, n)
		if pval, pok, err := pv.Value(k, n); err != nil || pval != hval || pok != hok {
			t.Fatalf("op %d: Value %q %v %v, heap %q %v", op, pval, pok, err, hval, hok)
		}
		if rng.IntN(8) == 0 {
			check(op)
		}
	}
	check(-1)
}
