// Package bench is qstate's load harness: a closed-loop generator that
// drives any server speaking Flink's queryable-state protocol (or, as the
// reference, a Redis server over RESP) with C connections x P pipelined
// requests and reports throughput, HDR latency percentiles, errors by kind
// and, given the server's pid, its CPU time per request.
//
// The load is the synthetic dataset that `qstate serve --dataset synthetic`
// serves: JobID 00112233445566778899aabbccddeeff, state "state", keys Java
// Integer 0..N-1 (IntSerializer + VoidNamespace: 4 key bytes, 2A 00; key
// hash = the int), a ValueState<byte[]> whose value for key i is S bytes,
// byte j = byte(i*31+j) (state content: i32 S, then the bytes). Over RESP
// the same bytes are stored under key:<i> (see Preload).
//
// How a run goes (Run): dial every connection, then each connection's
// goroutine appends P requests (a copy of the protocol's template with the
// key and request id patched in), writes them in one write, and reads
// responses through a bufio.Reader; each response frees its slot and a new request takes it,
// and the pending requests are written whenever no whole response is
// buffered (closed loop, P in flight). A warm-up (not counted) precedes the
// measured window, which ends after Duration or after exactly Requests
// requests; the responses still in flight are then awaited (DrainTimeout)
// and every connection is closed.
//
// What it must not do: depend on server/ internals (it speaks only the wire
// protocol, through codec), use the client/ package (it needs its own tight
// loop), allocate per request in the loop, run without bound, or write
// to anything but its own connections.
//
// Ownership of byte slices: Run and Preload copy what they need from
// Config. Request templates are read-only and shared by the
// connections. A parsed response's content and class are views into the
// connection's read buffer, valid until those bytes are discarded; error
// classes are copied once, the first time a class is seen. A Report and
// its Histogram belong to the caller.
//
// Goroutines: Run's caller's goroutine is the controller: it moves the
// phases, runs the watchdog, calls Config.Progress, and merges the
// per-connection histograms and counts after every connection goroutine
// has returned. Each connection goroutine owns its net.Conn, buffers, slots,
// histogram and counts; it shares with the controller only atomics (phase,
// budget, progress, last activity, timeout and abort flags) and the
// net.Conn's SetDeadline, which the controller uses to interrupt it.
//
// Invariants the tests cite:
//
//   - I1: a window bounded by Requests issues exactly Requests measured
//     requests; with no failure, Completed == Requests.
//   - I2: every measured request ends exactly one way:
//     Sent == OK + sum(Errors), and Completed == OK + request_failure +
//     wrong_value.
//   - I3: the loop allocates nothing per request in steady state.
//   - I4: a run stops by itself (bounded window, per-connection Timeout,
//     bounded drain, cancellation) and closes every connection it opened.
//   - I5: a Flink response is matched to its request by id (responses may
//     come out of order); an id that is not in flight is a protocol error,
//     never counted against another request.
package bench
