package dataset

import (
	"bytes"
	"testing"

	"github.com/qstate/qstate/pebblestate"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/state"
)

// TestSyntheticPebbleMatchesGolden: the synthetic dataset written to a
// Pebble store answers the golden exchanges as Flink does (D1 on Pebble),
// and after a reopen the store is reused, not written again, and answers
// the same at once.
func TestSyntheticPebbleMatchesGolden(t *testing.T) {
	dir := t.TempDir()
	for round, wantWritten := range []bool{true, false} {
		db, err := pebblestate.Open(dir, pebblestate.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s, written, err := OpenSynthetic(db, 1000, 8)
		if err != nil || written != wantWritten {
			t.Fatalf("round %d: written %v, %v; want written %v", round, written, err, wantWritten)
		}
		r := registry.New()
		if err := RegisterSyntheticState(r, s); err != nil {
			t.Fatal(err)
		}
		checkGolden(t, r)
		kn := state.AppendKeyAndNamespace(nil, state.Int, int32(999), state.Void, state.VoidNamespace{})
		if v, found, err := s.Get(kn); err != nil || !found || !bytes.Equal(v, state.Bytes.Append(nil, SyntheticValue(nil, 999, 8))) {
			t.Fatalf("round %d: key 999: %x %v %v", round, v, found, err)
		}
		if round == 1 {
			if _, _, err := OpenSynthetic(db, 1001, 8); err == nil {
				t.Fatal("a store holding 1000 keys accepted as 1001")
			}
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	db, err := pebblestate.Open(t.TempDir(), pebblestate.Options{MaxParallelism: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, _, err := OpenSynthetic(db, 10, 8); err == nil {
		t.Fatal("a store of 256 key groups accepted")
	}
}
