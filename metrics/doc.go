// Package metrics exposes a qstate node to Prometheus and to Go's
// profiler. A Metrics owns a registry (prometheus.NewRegistry, never the
// global one) holding one custom collector that, at scrape time, reads the
// Stats snapshots of the servers (package server), endpoints and worker
// pool (package handler) it was told to watch, plus the Go runtime and
// process collectors; its ObserveBatch (a handler.Observer) feeds the
// request latency histogram. NewStoreCollector is a collector of an
// on-disk state store's StoreStats (cache hit rate, compactions, read
// amplification, disk usage), read at scrape time from a function the
// caller gives (this package does not import the store). Handler serves
// /metrics and net/http/pprof's /debug/pprof/ on the admin port.
//
// What it must not do: be on the request path except through ObserveBatch,
// which allocates nothing and costs two atomic additions per batch; make
// package server or handler import Prometheus (they keep atomic counters
// and Stats snapshots, which this package reads); keep global state (two
// Metrics in one process are independent); block a scrape on the servers
// (Stats snapshots are atomic loads).
//
// # Ownership
//
// No []byte crosses the API. Config.Buckets is copied by New. The sources
// passed to Watch* are kept and read at every scrape until the Metrics is
// dropped; they must stay valid (a stopped server's Stats still are).
//
// # Goroutines
//
// ObserveBatch is called by whichever goroutine answered a batch (pool
// workers, event loops) and may run concurrently with everything. Watch*
// may be called at any time, from any goroutine (typically once, at
// start-up, between New and serving). Scrapes run on the HTTP server's
// goroutines and call the sources' Stats and PoolStats.
//
// # Invariants the tests cite
//
//   - M1: ObserveBatch allocates nothing and takes constant work per batch
//     (TestObserveBatchAllocs, BenchmarkObserveBatch).
//   - M2: every counter a scrape shows equals the watched source's Stats
//     field it comes from at that scrape (TestCollectMapsStats); after a
//     known workload over TCP they equal the workload's counts exactly
//     (TestEndToEndCounts).
//   - M3: the latency histogram's count equals the requests observed, and
//     its buckets are those prometheus.Histogram would fill with one
//     Observe per request (TestHistogramMatchesPrometheus,
//     TestEndToEndCounts).
//   - M4: no global state: two Metrics in one process are independent and
//     neither touches prometheus.DefaultRegisterer (TestIndependentInstances).
package metrics
