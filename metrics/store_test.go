package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestStoreMetrics: every qstate_store_* value a scrape shows is the
// watched store's StoreStats field at that scrape (M2 for the store), and
// the hit ratio is hits / (hits + misses).
func TestStoreMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	st := StoreStats{CacheHits: 300, CacheMisses: 100, CacheBytes: 1 << 20, Compactions: 7, Flushes: 9, ReadAmp: 4, DiskBytes: 5 << 30}
	reg.MustRegister(NewStoreCollector(func() StoreStats { return st }))
	f := gatheredFrom(t, reg)
	for name, want := range map[string]float64{
		"qstate_store_cache_hits_total":   300,
		"qstate_store_cache_misses_total": 100,
		"qstate_store_cache_hit_ratio":    0.75,
		"qstate_store_cache_bytes":        1 << 20,
		"qstate_store_compactions_total":  7,
		"qstate_store_flushes_total":      9,
		"qstate_store_read_amplification": 4,
		"qstate_store_disk_bytes":         5 << 30,
	} {
		if got := f.value(t, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	st = StoreStats{}
	if got := gatheredFrom(t, reg).value(t, "qstate_store_cache_hit_ratio"); got != 0 {
		t.Errorf("hit ratio with no look-ups = %v, want 0", got)
	}
}
