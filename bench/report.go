package bench

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/qstate/qstate/internal/enumname"
)

// ErrorKind says what went wrong with a measured request.
type ErrorKind int

// The kinds of error a report counts. A measured request ends exactly one
// way: OK, or one of these (I2).
const (
	// KindRequestFailure: the server answered with a failure. Flink: a
	// REQUEST_FAILURE, Class is the Java exception class of its payload.
	// RESP: an error reply (Class is its first word, e.g. ERR) or a nil
	// reply for a missing key (Class "(nil)").
	KindRequestFailure ErrorKind = iota
	// KindServerFailure: the request was in flight on a connection that
	// received a SERVER_FAILURE (Class is its Java exception class); the
	// harness closes that connection.
	KindServerFailure
	// KindWrongValue: with Verify, the value was not the synthetic dataset's.
	KindWrongValue
	// KindConnection: the request was in flight when its connection failed
	// (I/O error, EOF, timeout, or the run was cancelled or out of drain time).
	KindConnection
	// KindProtocol: the request was in flight when its connection received
	// a response the harness cannot match (unknown id, bad frame).
	KindProtocol
	numKinds
)

// String returns the kind's JSON name.
func (k ErrorKind) String() string { return errorKinds.String(k) }

// MarshalText implements encoding.TextMarshaler.
func (k ErrorKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *ErrorKind) UnmarshalText(b []byte) error {
	v, err := errorKinds.Parse(string(b))
	if err != nil {
		return fmt.Errorf("bench: unknown error kind %q", b)
	}
	*k = v
	return nil
}

var errorKinds = enumname.Table[ErrorKind]{Type: "ErrorKind", Names: []string{
	KindRequestFailure: "request_failure",
	KindServerFailure:  "server_failure",
	KindWrongValue:     "wrong_value",
	KindConnection:     "connection",
	KindProtocol:       "protocol",
}}

// errorCounts counts errors by kind and class. Adding a class already seen
// does not allocate.
type errorCounts struct {
	plain   [numKinds]int64
	byClass [numKinds]map[string]*int64
}

func (e *errorCounts) add(k ErrorKind, class []byte, n int64) {
	if class == nil {
		e.plain[k] += n
		return
	}
	m := e.byClass[k]
	if p := m[string(class)]; p != nil {
		*p += n
		return
	}
	if m == nil {
		m = make(map[string]*int64)
		e.byClass[k] = m
	}
	p := new(int64)
	*p = n
	m[string(class)] = p
}

func (e *errorCounts) merge(o *errorCounts) {
	for k := ErrorKind(0); k < numKinds; k++ {
		e.plain[k] += o.plain[k]
		for class, p := range o.byClass[k] {
			e.add(k, []byte(class), *p)
		}
	}
}

// list returns the counts, largest first.
func (e *errorCounts) list() []ErrorCount {
	out := []ErrorCount{}
	for k := ErrorKind(0); k < numKinds; k++ {
		if e.plain[k] > 0 {
			out = append(out, ErrorCount{Kind: k, Count: e.plain[k]})
		}
		for class, p := range e.byClass[k] {
			out = append(out, ErrorCount{Kind: k, Class: class, Count: *p})
		}
	}
	slices.SortFunc(out, func(a, b ErrorCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Class, b.Class))
	})
	return out
}

// ErrorCount is how many measured requests ended with one kind (and class) of error.
type ErrorCount struct {
	Kind  ErrorKind `json:"kind"`
	Class string    `json:"class,omitempty"` // Java exception class, RESP error word, or "(nil)"
	Count int64     `json:"count"`
}

// Latency holds latency statistics in microseconds, from the HDR histogram
// (3 significant digits).
type Latency struct {
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
}

// Report is the outcome of a run. Its JSON form (the `--json` output) has
// the field names in the tags; latencies are in microseconds.
//
// Counts cover the measured window only (warm-up excluded) and satisfy
// Sent == OK + sum(Errors) and Completed == OK + request_failure +
// wrong_value (I2): a request is either answered (Completed) or lost with
// its connection (server_failure, connection, protocol).
type Report struct {
	Protocol  Protocol `json:"protocol"`         // "flink" or "resp"
	Request   string   `json:"request"`          // KvStateRequest, KvStateInternalRequest or GET
	Addr      string   `json:"addr"`             // host:port driven
	Conns     int      `json:"conns"`            // connections
	Pipeline  int      `json:"pipeline"`         // requests in flight per connection
	Keys      int      `json:"keys"`             // keys drawn from, 0..keys-1
	Dist      Dist     `json:"dist"`             // "uniform" or "zipf"
	ZipfS     float64  `json:"zipf_s,omitempty"` // Zipf exponent
	ValueSize int      `json:"value_size"`       // bytes per value (checked with verify)
	Verify    bool     `json:"verify"`           // values checked byte for byte

	WarmupSeconds float64 `json:"warmup_seconds"` // warm-up before the window
	Seconds       float64 `json:"seconds"`        // window: its start to the last measured response

	Sent              int64        `json:"sent"`                // measured requests issued
	Completed         int64        `json:"completed"`           // measured requests answered
	OK                int64        `json:"ok"`                  // answered with a value (that verified, with verify)
	ErrorTotal        int64        `json:"error_total"`         // sum of Errors
	Errors            []ErrorCount `json:"errors"`              // by kind and class, largest first
	RequestsPerSecond float64      `json:"requests_per_second"` // Completed / Seconds
	Latency           Latency      `json:"latency_us"`          // of Completed requests

	// ServerCPUMicrosPerRequest is the server's user+system CPU time over the
	// window divided by Completed, when Config.ServerPID was set.
	ServerCPUMicrosPerRequest *float64 `json:"server_cpu_us_per_request,omitempty"`
	// ServerCPUSeconds is the server's CPU time over the window, when measured.
	ServerCPUSeconds *float64 `json:"server_cpu_seconds,omitempty"`
	// ClientCPUMicrosPerRequest is the harness process's own CPU time over
	// the window divided by Completed: when it nears the cores' budget, the
	// harness, not the server, limits the throughput.
	ClientCPUMicrosPerRequest *float64 `json:"client_cpu_us_per_request,omitempty"`

	ConnFailures   int    `json:"conn_failures"`              // connections that failed
	FirstConnError string `json:"first_conn_error,omitempty"` // the first failure's reason

	// Histogram holds every measured latency in nanoseconds; not in JSON.
	Histogram *hdrhistogram.Histogram `json:"-"`
}

// Err returns the count of errors of one kind (all classes), for tests and callers.
func (r *Report) Err(k ErrorKind) int64 {
	var n int64
	for _, e := range r.Errors {
		if e.Kind == k {
			n += e.Count
		}
	}
	return n
}

// ErrClass returns the count of errors of one kind and class.
func (r *Report) ErrClass(k ErrorKind, class string) int64 {
	for _, e := range r.Errors {
		if e.Kind == k && e.Class == class {
			return e.Count
		}
	}
	return 0
}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	us := func(ns int64) float64 { return float64(ns) / 1e3 }
	return Latency{
		Min:  us(h.Min()),
		Mean: h.Mean() / 1e3,
		P50:  us(h.ValueAtQuantile(50)),
		P90:  us(h.ValueAtQuantile(90)),
		P99:  us(h.ValueAtQuantile(99)),
		P999: us(h.ValueAtQuantile(99.9)),
		Max:  us(h.Max()),
	}
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report as a human-readable table.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	dist := r.Dist.String()
	if r.Dist == Zipf {
		dist = fmt.Sprintf("zipf s=%g", r.ZipfS)
	}
	fmt.Fprintf(tw, "target\t%s %s %s\n", r.Protocol, r.Request, r.Addr)
	fmt.Fprintf(tw, "load\t%d conns x %d pipelined, %d keys %s, %d B values%s\n",
		r.Conns, r.Pipeline, r.Keys, dist, r.ValueSize, map[bool]string{true: ", verified", false: ""}[r.Verify])
	fmt.Fprintf(tw, "window\t%.2f s after %.2f s warm-up\n", r.Seconds, r.WarmupSeconds)
	fmt.Fprintf(tw, "requests\t%d sent, %d completed, %d ok, %d errors\n", r.Sent, r.Completed, r.OK, r.ErrorTotal)
	fmt.Fprintf(tw, "throughput\t%.0f req/s\n", r.RequestsPerSecond)
	l := r.Latency
	fmt.Fprintf(tw, "latency (µs)\tp50 %s  p90 %s  p99 %s  p99.9 %s  max %s  mean %s\n",
		fmtUs(l.P50), fmtUs(l.P90), fmtUs(l.P99), fmtUs(l.P999), fmtUs(l.Max), fmtUs(l.Mean))
	if r.ServerCPUMicrosPerRequest != nil {
		fmt.Fprintf(tw, "server CPU\t%.2f µs/request (%.2f s)\n", *r.ServerCPUMicrosPerRequest, *r.ServerCPUSeconds)
	}
	if r.ClientCPUMicrosPerRequest != nil {
		fmt.Fprintf(tw, "harness CPU\t%.2f µs/request\n", *r.ClientCPUMicrosPerRequest)
	}
	for _, e := range r.Errors {
		name := e.Kind.String()
		if e.Class != "" {
			name += " " + e.Class
		}
		fmt.Fprintf(tw, "error\t%s: %d\n", name, e.Count)
	}
	if r.ConnFailures > 0 {
		fmt.Fprintf(tw, "connections\t%d failed; first: %s\n", r.ConnFailures, strings.TrimSpace(r.FirstConnError))
	}
	return tw.Flush()
}

func fmtUs(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}
