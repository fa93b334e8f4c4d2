package metrics

import (
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// histogram is a latency histogram that takes n observations of one value
// in one call: the handler reports a batch of n requests with one latency,
// and prometheus.Histogram would need n Observe calls (about four atomic
// operations each) to count them. observe costs one binary search over the
// bounds and two atomic adds whatever n is (BenchmarkObserveBatch), and
// allocates nothing (M1). collect turns it into a constant histogram at
// scrape time.
//
// The count is not stored: it is the sum of the buckets, so a scrape never
// shows a count that disagrees with its buckets. The sum may lag the
// buckets by the observations in progress during the scrape.
type histogram struct {
	bounds []time.Duration  // upper bounds, increasing; +Inf is implicit
	upper  []float64        // the same bounds in seconds, for the exposition
	counts []atomic.Uint64  // per bucket, not cumulative; the last is +Inf
	sum    atomic.Int64     // nanoseconds
	desc   *prometheus.Desc // qstate_request_duration_seconds
}

func newHistogram(desc *prometheus.Desc, upper []float64) *histogram {
	h := &histogram{
		bounds: make([]time.Duration, len(upper)),
		upper:  upper,
		counts: make([]atomic.Uint64, len(upper)+1),
		desc:   desc,
	}
	for i, s := range upper {
		h.bounds[i] = time.Duration(math.Round(s * float64(time.Second))) // bounds resolve to the nanosecond
	}
	return h
}

// observe records n observations of d: each goes to the first bucket whose
// upper bound is at least d (Prometheus's "le").
func (h *histogram) observe(n int, d time.Duration) {
	if n <= 0 {
		return
	}
	d = max(d, 0)
	i, _ := slices.BinarySearch(h.bounds, d)
	h.counts[i].Add(uint64(n))
	h.sum.Add(int64(n) * int64(d))
}

// count returns the number of observations (the sum of the buckets).
func (h *histogram) count() uint64 {
	var c uint64
	for i := range h.counts {
		c += h.counts[i].Load()
	}
	return c
}

// metric returns the histogram as a constant Prometheus histogram with the
// given label values.
func (h *histogram) metric(labels ...string) prometheus.Metric {
	cum := make(map[float64]uint64, len(h.upper))
	var c uint64
	for i, ub := range h.upper {
		c += h.counts[i].Load()
		cum[ub] = c
	}
	c += h.counts[len(h.upper)].Load()
	sum := time.Duration(h.sum.Load()).Seconds()
	return prometheus.MustNewConstHistogram(h.desc, c, sum, cum, labels...)
}
