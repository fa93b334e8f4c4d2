//go:build !race

package metrics

import (
	"testing"
	"time"

	"github.com/qstate/qstate/handler"
)

// TestObserveBatchAllocs (M1): recording a batch allocates nothing.
func TestObserveBatchAllocs(t *testing.T) {
	m := newMetrics(t, Config{NoRuntime: true})
	if n := testing.AllocsPerRun(1000, func() {
		m.ObserveBatch(handler.ProxyPort, 64, 3, 37*time.Microsecond)
	}); n != 0 {
		t.Fatalf("ObserveBatch allocates %v times", n)
	}
}
