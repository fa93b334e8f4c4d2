// Package handler turns queryable-state requests into answers, the way a
// Flink TaskManager's proxy and state server do, independently of the
// transport. A Handler holds a registry, a bounded ants pool and two
// Endpoints: Proxy answers KvStateRequests (job, state name, key hash,
// key and namespace: location -> key group -> owner -> local state) and
// StateServer answers KvStateInternalRequests (KvStateID, key and
// namespace). Each Endpoint satisfies server.Handler and
// server.ConnObserver structurally; this package does not import server.
//
// What it must not do: touch sockets or gnet; block an event loop (with
// Pool dispatch ServeBatch only hands the batch over; with Inline it runs
// look-ups that never block, and hands the rest of a batch to the pool,
// made on first need, at the first state that says its look-ups may block,
// state.Blocking: a disk store (Inline is refused with a Forwarder); Auto,
// the default, does what Inline does for a lone request, handing it to the
// pool when it is for a blocking state or another node, and what Pool does
// for the rest);
// queue without bound (a full pool
// refuses a batch at once, each request answered with a RuntimeException
// saying the server is overloaded); allocate per request in steady state
// (a missing key answers with codec's cached payload); log per request;
// send a Java class a Flink client cannot load (only codec's
// constructors, which use the classes of PROTOCOL.md §4.1).
//
// # Answers
//
// Failures are Flink's, with Flink's texts (PROTOCOL.md §4.2, §4.3):
// missing key: UnknownKeyOrNamespaceException from the state server
// ("Queryable State Server : ..."), relayed as a TaskManager's proxy
// relays it; unknown KvStateID: UnknownKvStateIdException; a key group
// with no owner, or a remote owner without a Forwarder:
// UnknownKvStateKeyGroupLocationException; unknown job or state name:
// RuntimeException "Failed request <id>." caused by
// UnknownLocationException; key and namespace bytes the state's
// serializers reject: RuntimeException caused by Flink's IOException
// text; a body that does not decode: a REQUEST_FAILURE (Flink sends
// SERVER_FAILURE, which makes its client drop every request on the
// connection) with Flink's negative-length text or a BadRequestException.
//
// # Look-ups
//
// A batch's requests resolve their location, owner and state once per
// run of requests to the same (job, state name) and KvStateID (the task
// keeps the last ones; a lone request pays the registry's look-ups). The
// requests that a local heap state answers (state.BatchGetter) are looked
// up first, one GetBatch per run of requests to the same state, so that
// their memory misses overlap (BenchmarkServeBatch); the answers are then
// built in request order as before, each the one the request gets alone.
//
// # Ownership of byte slices
//
//   - reqs (ServeBatch): the caller's; read until done is called, never
//     written or kept.
//   - out (done's argument): a bufpool buffer sized exactly for the
//     answers; it becomes the caller's.
//   - Values returned by a KvState are immutable (state.KvState); the
//     handler copies each once, into out, and keeps no reference after,
//     except with ServeParts (the server) a value of at least lendMin
//     (16 KiB) that a state other than an Appender returned: it is lent,
//     not copied (segs of server.PartHandler: out holds its header, the
//     server writes the value from the state's own bytes), so a large
//     answer costs the server no copy however many connections wait.
//     A state.Appender (a store on disk) appends its answer to the task's
//     scratch buffer instead, reused from batch to batch (kept up to 1
//     MiB), or, for an answer of 16 KiB or more that does not fit there,
//     to an array of its own (so a batch of large answers is never copied
//     as the scratch grows); results view them until the batch is encoded.
//   - A Forwarder reads the state name and key-and-namespace views it is
//     given during its call only. Content it returns becomes the
//     handler's, which copies it into out and gives it to bufpool.Put.
//
// # Goroutines
//
// ServeBatch runs on the caller's goroutine (an event loop). With Pool
// dispatch the look-ups, the encoding and done run on a pool worker; with
// Inline dispatch, with Auto dispatch for a lone request to a local
// in-memory state, or when the pool refuses the batch, they run before
// ServeBatch returns. A batch's requests for key groups other nodes own are
// forwarded after its look-ups, concurrently: on the worker and up to
// forwardFanout helper goroutines, never more than PoolSize helpers in the
// whole handler; the batch is answered when the last forward returns,
// which the Forwarder does by the requests' deadline (Config.RequestTimeout
// after ServeBatch; the ctx it is given ends then). Stats, PoolStats and
// Close may be called from any goroutine. Close releases the pool and
// waits for its workers.
//
// # Invariants the tests cite
//
//   - H1: every request of a batch gets exactly one answer frame with its
//     request id, and done is called exactly once per batch, even when a
//     state panics (TestProxyValues, TestPanickingStateFailsBatch).
//   - H2: failures carry Flink's class and message (TestProxyFailures,
//     TestStatePort, TestTCPGoldenExchanges, TestJavaClient).
//   - H3: a full pool refuses a batch before ServeBatch returns; the pool
//     never runs more than PoolSize workers and never queues (TestOverload,
//     TestTCPOverloadFlood).
//   - H4: answering a batch allocates nothing in steady state, inline or
//     through the pool (TestServeBatchAllocs, BenchmarkTCP allocs/req).
//   - H5: Close leaves no goroutine behind (TestCloseReleasesPool,
//     TestTCPShutdownInFlight).
//   - H6: a batch's forwarded requests are forwarded concurrently, on at
//     most PoolSize helper goroutines handler-wide besides the workers; a
//     panicking Forwarder fails its own request only
//     (TestForwardsRunConcurrently, TestForwardHelpersBounded).
//   - H7: every request answered is counted in Stats.Results under exactly
//     one Result, the one its failure's Java class says (a forwarded
//     failure too); the counts add up to Stats.Requests, and Observer sees
//     every batch once, with its number of requests (TestResultsByKind,
//     TestResultsOverload, metrics' TestEndToEndCounts).
//   - H8: a look-up in a state whose look-ups may block never runs on the
//     caller's goroutine, whatever the dispatch: the batch continues on a
//     worker from that request, answered in order; a full pool refuses it
//     as in H3; a failing look-up fails its request only
//     (TestBlockingLookupsLeaveTheEventLoop, TestBlockingOverload,
//     TestAppenderFailureFailsOneRequest, TestAppenderAllocs).
//   - H9: a forward's ctx ends at its request's deadline (RequestTimeout
//     after ServeBatch), so a peer that never answers costs the request
//     that deadline, never more (TestForwardDeadline).
//   - H10: a request of a batch looked up with state.BatchGetter gets the
//     answer it gets alone, whatever the other requests of the batch
//     (other states, an Appender, unknown states, bad bodies, missing
//     keys), on both ports and dispatches (TestBatchLookupsAnswerAsOneByOne).
package handler
