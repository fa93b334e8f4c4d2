package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/qstate/qstate/handler"
	"github.com/qstate/qstate/server"
)

// The metrics of the qstate collector. Names follow Prometheus'
// conventions: qstate_ prefix, base units (seconds, bytes), _total on
// counters; every one carries the port label ("proxy", "state").
var (
	descRequests = portDesc("qstate_requests_total",
		"Requests answered, by port and result (ok, missing_key, unknown_state, unknown_key_group, bad_request, error, overload, shutdown: see handler.Result).",
		"result")
	descRequestDuration = portDesc("qstate_request_duration_seconds",
		"Time from a request's batch reaching the handler to its answer being encoded, one observation per request.")
	descBatches = portDesc("qstate_batches_total",
		"Batches of pipelined requests dispatched to the handler (one per wake-up of a connection with whole frames).")
	descBatchesInFlight = portDesc("qstate_batches_in_flight",
		"Batches dispatched and not yet answered.")

	descConnsOpen = portDesc("qstate_connections_open",
		"Connections open now.")
	descConnsAccepted = portDesc("qstate_connections_accepted_total",
		"Connections accepted, including those refused at once (see qstate_connections_refused_total).")
	descConnsRefused = portDesc("qstate_connections_refused_total",
		"Connections closed as soon as accepted because the connection limit (--max-conns) was reached.")
	descConnsClosed = portDesc("qstate_connections_closed_total",
		"Connections closed, by reason (see server.CloseReason: peer, protocol, frame-too-large, inbound-overflow, conn-limit, shutdown, write-error, idle, slow-consumer, frame-timeout, evicted, shed).",
		"reason")
	descSlowConsumers = portDesc("qstate_slow_consumer_disconnects_total",
		"Connections closed because their client did not read its answers: answers held over --max-outbound or untouched for --stall-timeout (reason slow-consumer), or requests buffered over --max-inbound (reason inbound-overflow).")
	descLogsSuppressed = portDesc("qstate_log_lines_suppressed_total",
		"Connection warnings and errors left out of the log by --log-rate (counted, and summed up once a second).")

	descBytesIn = portDesc("qstate_bytes_received_total",
		"Bytes of request frames received and dispatched.")
	descBytesOut = portDesc("qstate_bytes_sent_total",
		"Bytes of answer frames handed to the network engine.")

	descBackpressurePauses = portDesc("qstate_backpressure_pauses_total",
		"Times a connection's outbound buffer went over the high watermark, so that its requests stopped being dispatched until it drained.")
	descBackpressured = portDesc("qstate_connections_backpressured",
		"Connections under backpressure now (outbound buffer over the high watermark, not yet drained below the low one).")
	descPendingWrites = portDesc("qstate_connections_pending_writes",
		"Connections with answers waiting for their outbound buffer to drain.")
	descMaxOutbound = portDesc("qstate_outbound_buffer_max_bytes",
		"Largest outbound buffer held for one connection since start (bounded by the high watermark plus one chunk).")

	descRejected = portDesc("qstate_requests_rejected_total",
		"Requests the server answered itself with a failure before any look-up: past max-inbound (pushback, retryable) or read while shutting down.")
	descBuffered = portDesc("qstate_buffered_bytes",
		"Bytes the port's connections hold now (requests read and not dispatched, answers waiting or being built), counted against --max-buffered-total.")
	descHalfClosed = portDesc("qstate_connections_half_closed_total",
		"Connections whose client shut down its write side while answers were owed, answered in full and then closed.")

	descPoolSize = prometheus.NewDesc("qstate_pool_workers",
		"Capacity of the look-up worker pool (--pool-size); 0 with inline dispatch.",
		nil, nil)
	descPoolRunning = prometheus.NewDesc("qstate_pool_workers_running",
		"Look-up pool workers running now.",
		nil, nil)
	descPoolWaiting = prometheus.NewDesc("qstate_pool_waiting",
		"Batches waiting for a pool worker: 0 by design, a full pool refuses a batch (result=\"overload\") instead of queueing it.",
		nil, nil)
)

// portDesc describes a metric of one port: its labels are "port" and then
// labels.
func portDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, append([]string{"port"}, labels...), nil)
}

// collector is the qstate prometheus.Collector of a Metrics: at each scrape
// it reads the watched sources' Stats, never anything on the request path.
type collector struct{ m *Metrics }

// Describe sends every metric the collector may send.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descRequests, descRequestDuration, descBatches, descBatchesInFlight,
		descConnsOpen, descConnsAccepted, descConnsRefused, descConnsClosed, descSlowConsumers, descLogsSuppressed,
		descBytesIn, descBytesOut,
		descBackpressurePauses, descBackpressured, descPendingWrites, descMaxOutbound,
		descRejected, descBuffered, descHalfClosed,
		descPoolSize, descPoolRunning, descPoolWaiting,
	} {
		ch <- d
	}
}

// Collect sends the current values.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	m.mu.Lock()
	servers := append([]watchedServer(nil), m.servers...)
	endpoints := m.endpoints
	pool := m.pool
	m.mu.Unlock()

	for _, w := range servers {
		collectServer(ch, w.port, w.src.Stats())
	}
	for p, ep := range endpoints {
		port := handler.Port(p).String()
		if ep != nil {
			collectEndpoint(ch, port, ep.Stats())
		}
		if h := m.hist[p]; ep != nil || h.count() > 0 {
			ch <- h.metric(port)
		}
	}
	if pool != nil {
		running, capacity := pool.PoolStats()
		ch <- gauge(descPoolSize, capacity)
		ch <- gauge(descPoolRunning, running)
		waiting := 0
		if w, ok := pool.(interface{ PoolWaiting() int }); ok {
			waiting = w.PoolWaiting()
		}
		ch <- gauge(descPoolWaiting, waiting)
	}
}

func collectServer(ch chan<- prometheus.Metric, port string, st server.Stats) {
	ch <- counter(descBatches, st.Batches, port)
	ch <- counter(descBytesIn, st.BytesIn, port)
	ch <- counter(descBytesOut, st.BytesOut, port)
	ch <- gauge(descBatchesInFlight, st.InFlight, port)
	ch <- gauge(descConnsOpen, st.Conns, port)
	ch <- counter(descConnsAccepted, st.Accepted, port)
	ch <- counter(descConnsRefused, st.ClosedFor(server.CloseConnLimit), port)
	for r, n := range st.Closed {
		ch <- counter(descConnsClosed, n, port, server.CloseReason(r).String())
	}
	ch <- counter(descSlowConsumers, st.ClosedFor(server.CloseInboundOverflow)+st.ClosedFor(server.CloseSlowConsumer), port)
	ch <- counter(descLogsSuppressed, st.LogsSuppressed, port)
	ch <- counter(descBackpressurePauses, st.BackpressureStarts, port)
	ch <- gauge(descBackpressured, st.Backpressured, port)
	ch <- gauge(descPendingWrites, st.Pending, port)
	ch <- gauge(descMaxOutbound, st.MaxOutbound, port)
	ch <- counter(descRejected, st.Rejected, port)
	ch <- gauge(descBuffered, st.Buffered, port)
	ch <- counter(descHalfClosed, st.HalfClosed, port)
}

func collectEndpoint(ch chan<- prometheus.Metric, port string, st handler.Stats) {
	for r, n := range st.Results {
		ch <- counter(descRequests, n, port, handler.Result(r).String())
	}
}

func counter[N int | int64](d *prometheus.Desc, v N, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func gauge[N int | int64](d *prometheus.Desc, v N, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
}
