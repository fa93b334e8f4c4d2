//go:build race

package bufpool_test

import (
	"testing"

	"github.com/qstate/qstate/bufpool"
)

// TestPoisonUnderRace: in race builds Put overwrites the whole capacity
// (I3), so a use after Put reads PoisonByte.
func TestPoisonUnderRace(t *testing.T) {
	b := append(bufpool.Get(100), "payload"...)
	full := b[:cap(b)]
	bufpool.Put(b)
	for i, c := range full {
		if c != bufpool.PoisonByte {
			t.Fatalf("byte %d after Put is %#x, want %#x", i, c, bufpool.PoisonByte)
		}
	}
}
