// Package kvref is a reference server of the shape qstate's design card
// describes, with nothing else: a gnet v2 engine decodes the whole frames of
// a wake-up, copies them out once and hands them to one ants task, which
// answers each request of the synthetic dataset (package dataset) from a Go
// map keyed by the serialized key and namespace, and queues the answers with
// one AsyncWrite. With Config.Flat the answers come from one flat array
// indexed by the decoded Integer key instead: a look-up no hash table
// reaches, a lower bound.
//
// It is a measuring stick for scripts/compare.sh (run it with
// `go run ./internal/kvref/cmd/kvref`), not part of the product: no
// registry, no limits on connections or buffered bytes, no backpressure, no
// metrics. It checks the job and the state name and answers a missing key,
// another job or state, or a bad body with the missing key's REQUEST_FAILURE
// (qstate says which), and a broken stream with Flink's SERVER_FAILURE
// before closing the connection.
//
// Goroutines: Serve blocks on gnet's engine; OnTraffic runs on an event
// loop, the look-ups on a pool worker; the table is read-only after New, so
// workers share it without locks. A batch's bytes are copied out of gnet's
// buffer before OnTraffic returns and live until its answers are written.
package kvref
