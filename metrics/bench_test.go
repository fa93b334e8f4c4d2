package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/qstate/qstate/handler"
)

// BenchmarkObserveBatch (M1): the cost of recording one batch of 64
// requests, on every CPU at once, against prometheus.Histogram observed
// once per request (what ObserveBatch replaces).
func BenchmarkObserveBatch(b *testing.B) {
	const n = 64
	b.Run("metrics", func(b *testing.B) {
		m := newMetrics(b, Config{NoRuntime: true})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			d := time.Duration(0)
			for pb.Next() {
				d = (d + 7*time.Microsecond) % time.Millisecond
				m.ObserveBatch(handler.ProxyPort, n, 0, d)
			}
		})
	})
	b.Run("prometheus-per-request", func(b *testing.B) {
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "x", Buckets: DefaultBuckets})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			d := time.Duration(0)
			for pb.Next() {
				d = (d + 7*time.Microsecond) % time.Millisecond
				for range n {
					h.Observe(d.Seconds())
				}
			}
		})
	})
}
