package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// StoreStats is a snapshot of an on-disk state store's counters (cmd fills
// one from pebblestate.DB.Stats; this package does not import the store).
type StoreStats struct {
	CacheHits, CacheMisses int64 // block cache look-ups since open
	CacheBytes             int64 // bytes held by the block cache
	Compactions            int64 // compactions since open
	Flushes                int64 // memtable flushes since open
	ReadAmp                int   // read amplification: sorted runs a point read may consult
	DiskBytes              uint64
}

// The store's metrics.
var (
	descStoreCacheHits = prometheus.NewDesc("qstate_store_cache_hits_total",
		"Block cache hits of the on-disk state store (Pebble) since it opened.", nil, nil)
	descStoreCacheMisses = prometheus.NewDesc("qstate_store_cache_misses_total",
		"Block cache misses of the on-disk state store (each one a block read from disk or the page cache).", nil, nil)
	descStoreCacheHitRatio = prometheus.NewDesc("qstate_store_cache_hit_ratio",
		"Block cache hits / (hits + misses) since the store opened (0 before any look-up).", nil, nil)
	descStoreCacheBytes = prometheus.NewDesc("qstate_store_cache_bytes",
		"Bytes held by the store's block cache (bounded by --cache-size).", nil, nil)
	descStoreCompactions = prometheus.NewDesc("qstate_store_compactions_total",
		"Compactions the store has run since it opened.", nil, nil)
	descStoreFlushes = prometheus.NewDesc("qstate_store_flushes_total",
		"Memtable flushes the store has run since it opened.", nil, nil)
	descStoreReadAmp = prometheus.NewDesc("qstate_store_read_amplification",
		"Sorted runs (L0 sublevels and non-empty levels) a point look-up may have to consult.", nil, nil)
	descStoreDiskBytes = prometheus.NewDesc("qstate_store_disk_bytes",
		"Disk space used by the store's files.", nil, nil)
)

// storeCollector reads a store's StoreStats at scrape time.
type storeCollector struct{ src func() StoreStats }

// NewStoreCollector returns a collector that reads src at every scrape and
// exports the store's cache hit rate, compactions, read amplification and
// disk usage (qstate_store_*), for the caller to register next to the
// node's. src runs on the scrape's goroutine and may take the store's
// locks. It panics when src is nil (a set-up bug).
func NewStoreCollector(src func() StoreStats) prometheus.Collector {
	if src == nil {
		panic("metrics: nil store source")
	}
	return storeCollector{src}
}

// Describe sends the store's metric descriptions.
func (c storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descStoreCacheHits, descStoreCacheMisses, descStoreCacheHitRatio,
		descStoreCacheBytes, descStoreCompactions, descStoreFlushes, descStoreReadAmp, descStoreDiskBytes} {
		ch <- d
	}
}

// Collect sends the store's current values.
func (c storeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.src()
	ratio := 0.0
	if n := st.CacheHits + st.CacheMisses; n > 0 {
		ratio = float64(st.CacheHits) / float64(n)
	}
	ch <- counter(descStoreCacheHits, st.CacheHits)
	ch <- counter(descStoreCacheMisses, st.CacheMisses)
	ch <- prometheus.MustNewConstMetric(descStoreCacheHitRatio, prometheus.GaugeValue, ratio)
	ch <- gauge(descStoreCacheBytes, st.CacheBytes)
	ch <- counter(descStoreCompactions, st.Compactions)
	ch <- counter(descStoreFlushes, st.Flushes)
	ch <- gauge(descStoreReadAmp, st.ReadAmp)
	ch <- prometheus.MustNewConstMetric(descStoreDiskBytes, prometheus.GaugeValue, float64(st.DiskBytes))
}
