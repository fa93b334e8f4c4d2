// Package server is qstate's network front end: a gnet v2 multi-reactor
// engine that speaks Flink's queryable-state framing on one port (run one
// Server for the proxy port and one for the state-server port). It reads
// frames, hands them in batches to a Handler, and writes the answers back
// in batches with its own system calls, and applies backpressure to
// connections whose reader does not keep up. It enforces limits on frame size, bytes
// buffered, requests in flight and connections, binds the first free port
// of a Flink-style range, and shuts down gracefully.
//
// What it must not do: know what a KvState or a request body is (bodies
// are the Handler's); block an event loop (the Handler runs slow work
// elsewhere); allocate per request in steady state; log per request; trust
// the peer (every length is bounded before it is used, a bad stream is
// answered with SERVER_FAILURE and closed, never a panic).
//
// # Glossary
//
// One word for one thing, here and in package handler, client and metrics:
//
//   - frame: one length-prefixed message of Flink's protocol. A request is a
//     REQUEST frame; its answer is a REQUEST_RESULT (a value) or a
//     REQUEST_FAILURE (a failure); a SERVER_FAILURE answers a broken stream
//     and closes the connection.
//   - batch: the whole frames of one connection decoded in one pass of its
//     event loop, copied out once and dispatched (handed to the Handler) in
//     one ServeBatch.
//   - in flight: dispatched and not yet answered (Config.MaxInFlight counts
//     requests, Stats.InFlight batches). In package client: sent or queued
//     and not yet answered (client.Config.MaxInFlight).
//   - queued: answers the Handler handed back, waiting on their connection
//     for the event loop to write them, or for the kernel to take the rest
//     of them (the connection's queue).
//   - lent: a large value a PartHandler hands over by reference instead of
//     copying it into its answers (a state's published value, never
//     written again): queued as an entry of its own between pieces of the
//     answer buffer, written from the state's bytes, never given back.
//     Lent bytes are pending bytes (MaxOutbound) but, once queued, not the
//     server's memory (Stats.Buffered, MaxBufferedTotal); while a batch is
//     built its limit counts its answers whole, lent values included.
//   - pending: answer bytes computed and not yet taken by the kernel (the
//     queued bytes); what MaxOutbound bounds. gnet's outbound buffer holds
//     none (I5). Stats.Pending (metric qstate_connections_pending_writes)
//     counts connections with pending answers that wait for their socket;
//     Stats.MaxOutbound is the most one connection had. Nothing else is
//     called pending.
//   - drain: pending answers going down as the kernel takes them. The
//     socket's EPOLLOUT wakes a connection that waits for it (writable,
//     Linux); the drain watcher polls it only where that cannot be had
//     (conn.socketWakes false), and polls connections that wait for room.
//   - backpressure: a connection whose pending answers passed HighWatermark
//     is under backpressure: none of its requests is dispatched until they
//     drain below LowWatermark. Stats.Backpressured counts connections under
//     backpressure now, Stats.BackpressureStarts (metric
//     qstate_backpressure_pauses_total) the times one came under it (the metric's
//     "pauses" are these starts; conn's blocked flag is the state).
//   - deferred: requests decoded but kept for later because their answers
//     would not fit the connection's room under MaxOutbound (a PartHandler's
//     answer budget).
//   - pushback: a request beyond what its connection may buffer
//     (MaxInbound) answered at once with a retryable failure that names the
//     limit, instead of a reset (Stats.Rejected counts those and the
//     requests refused while shutting down).
//   - stalled: a reader that takes none of its pending answers; after
//     StallTimeout the connection is closed as a slow consumer.
//   - slow consumer: a connection closed because its pending answers passed
//     MaxOutbound or it stalled (CloseSlowConsumer).
//   - idle: no request, nothing in flight and nothing pending; closed after
//     IdleTimeout (CloseIdle).
//   - overload: package handler's pool has no free worker; the batch is
//     refused at once, each request failing with "Server overloaded". Never
//     a queue.
//   - direct write: a pool worker writing its answers to the socket itself
//     while the event loop lets it (below).
//   - linger: during Shutdown, a connection with nothing left to write is
//     half-closed and its further input read and dropped (shutdown.go).
//   - shutdown and close: Shutdown answers what is in flight and then closes
//     each connection; Close stops at once.
//
// # Flow
//
// OnTraffic (one event loop per connection) peeks at everything gnet has
// buffered, decodes the headers of all whole frames in place, copies those
// frames once into one bufpool buffer (the batch) and discards them from
// gnet's buffer, then calls Handler.ServeBatch. The handler appends its
// answers, whole frames, to one bufpool buffer and calls done. If done
// comes before ServeBatch returns (inline dispatch), the event loop writes
// the answers at once (flush: writev on the descriptor). Otherwise the
// completing goroutine (a pool worker) writes them to the socket itself
// when the event loop lets it (direct writes, below); if not, it queues
// the batch on the connection and wakes its event loop (Conn.Wake, one per
// burst of completions), which writes the answers in its next pass. One wake-up of
// a busy connection therefore costs one copy of its requests, one handoff
// and one write, whatever the number of frames.
//
// The loop writes answers with its own system calls, not through gnet's
// Conn.Write: what the kernel does not take stays in the connection's
// queue, so that everything a connection owes is always the server's own
// to write — after a half-close too (halfclose.go), where gnet would drop
// what its own buffer held. A socket that refused part of a write is
// registered for one EPOLLOUT with an epoll instance of the server's
// (writable_linux.go), whose goroutine wakes the loop (Conn.Wake) when the
// socket takes more; gnet's own EPOLLOUT handling serves only its buffer,
// which stays empty. The loop's writes cost what gnet's did (one writev
// per pass); BENCHMARKS.md, "Writes of our own", compares the two.
//
// A PartHandler (package handler's Endpoint) gets ServeParts instead: a
// budget of answer bytes for the batch (conn.answerRoom), and a part
// callback for answers ready before the rest, such as the node's own
// answers in a batch that also waits for other nodes: each part is
// written like a batch of its own, so no answer waits for another
// request's slow owner. The requests whose answers do not fit in the
// budget come back with done (deferred) and are dispatched again, before
// newer frames, once there is room. A PartHandler may lend large values
// instead of copying them into its answers (segs; "lent" above): the
// connection queues the pieces of the answer buffer and the lent values
// in order, and the loop writes them as it writes any queued answer.
//
// # Direct writes
//
// A write from the worker saves the event loop a wake-up per batch: an
// eventfd write, an epoll round and gnet's two allocations (BENCHMARKS.md
// measures it). It is allowed only while nothing else can write to the
// socket: conn.direct, under conn.mu, is on only while the connection has
// no answer queued, it is not under backpressure, it has in-flight budget
// left and the server is serving. The event loop
// turns it off (own) before it writes anything itself, and back on
// (letWorkersWrite) at the end of a pass that leaves nothing to write. A
// worker writes under conn.mu, which OnClose (release) takes to mark the
// connection closed, and gnet closes the descriptor only after OnClose: a
// worker never writes to a descriptor that was reused. What the socket
// does not take at once (EAGAIN, a partial write, an error) becomes the
// head of the loop's queue and direct writes stay off: backpressure, error
// handling and close reasons remain the loop's. A batch whose requests
// the handler deferred in part goes to the loop as well, written or not,
// and direct writes are off from then on too: the loop counts itself the
// only writer once it has taken a completion.
// The requests a worker answered directly are counted off the loop's
// in-flight count at its next look (collect, settle). A batch with lent
// values is written the same way, its pieces and values in one writev.
//
// It pays: with every batch handed to the loop instead (one Conn.Wake per
// burst of completions), the server spent 12-17% more CPU per request and
// served 10-30% fewer requests per second at 4x128, 50x16 and 1x1
// (BENCHMARKS.md, "One writer per socket and dispatch"). What it relies on
// in gnet is checked against real gnet, not a fake: a partial direct
// write on a real socket is finished by the loop before anything later
// (TestDirectWriteGnetPartial), and a completion after OnClose writes
// nothing to a descriptor gnet has reused (TestDirectWriteGnetReusedFd).
//
// # What we rely on in gnet v2.9.7 (read from its source)
//
//   - Conn.Peek(n) and Discard(n) with n <= 0 act on all buffered bytes;
//     the server always passes the positive count it wants. Peeked bytes
//     are valid only until Discard and never leave the callback: the batch
//     copy is what other goroutines read.
//   - Conn.Write on the event loop writes to the socket at once when gnet's
//     outbound buffer is empty, else appends a copy to that buffer (the
//     server uses it only for the SERVER_FAILURE before a close). When the
//     peer's EOF closes a connection, gnet calls OnClose, then writes what
//     its buffer holds without blocking and drops the rest: why answers
//     never go there (I5).
//   - Conn.Wake is safe from any goroutine; it runs OnTraffic on the
//     connection's event loop and is ignored once the connection is closed
//     (gnet checks its own opened flag, so a reused descriptor is never
//     written through a stale Conn). It costs two small allocations inside
//     gnet (a closure and a queue node) and an eventfd write: the pool
//     path pays them only when direct writes are off.
//   - Conn.Fd is the connection's descriptor, fixed for its life; gnet
//     closes it after OnClose returns, never before (writable removes it
//     from its epoll instance in OnClose). Its sockets are non-blocking,
//     and gnet writes only what its outbound buffer holds (on EPOLLOUT) or
//     what we hand it: with that buffer empty, a write of ours cannot
//     interleave with gnet's.
//   - gnet tells no one when a socket becomes writable (it watches EPOLLOUT
//     only while its own buffer holds bytes; AsyncWrite callbacks fire when
//     data is queued, not sent): hence writable's epoll instance, and the
//     drain watcher, a goroutine that wakes waiting connections every
//     Config.DrainPoll (1 ms) and sleeps when none wait (the only means
//     where there is no epoll).
//   - gnet cannot pause reading: while a connection is under backpressure its bytes
//     keep arriving into gnet's inbound buffer, so the server closes a
//     connection whose InboundBuffered exceeds Config.MaxInbound.
//   - An accept error (EMFILE) stops the whole engine and gnet.Run returns
//     nil: Serve reports that as ErrEngineStopped, and Config.MaxConns
//     keeps connections well below the descriptor limit.
//   - Engine.Stop polls every 500 ms; we call it with a cancelled context
//     (it starts the stop and returns) and wait for gnet.Run to return.
//     OnShutdown runs before the last OnClose calls.
//   - A Conn's OnClose runs on its event loop, possibly nested inside our
//     own Write when the write fails; after a failed write the server
//     touches nothing of the connection again.
//
// # Ownership of byte slices
//
//   - Frames peeked from gnet: valid until Discard, inside OnTraffic only.
//   - Batch requests (reqs of ServeBatch): the server's bufpool buffer,
//     readable by the handler until it calls done; put back after.
//   - Answers (out of done): a bufpool buffer handed to the server, which
//     writes it (over several writes if the kernel takes it in parts) and
//     puts it back; the handler must not touch it after done.
//   - Lent values (in segs of a PartHandler's part and done): the
//     handler's promise that they stay unchanged; the server references
//     them from its queue until written or the connection closes, never
//     writes into them or gives them back. segs itself is copied into the
//     batch (batch.segs, reused) before the callback returns.
//   - SERVER_FAILURE frames: allocated on that (rare) path and dropped.
//
// # Goroutines
//
// gnet's event loops run the callbacks (OnOpen, OnTraffic, OnClose) and
// Handler.ServeBatch, and own everything marked "event loop" in conn.
// Handler goroutines call done, which takes the connection's mutex and
// then writes to the socket's descriptor (direct writes) or calls
// Conn.Wake, nothing else of gnet. The drain watcher goroutine and
// writable's goroutine call Conn.Wake. Serve runs gnet.Run; Shutdown and Close may be called from any
// goroutine. Config.ConnState, when set, is called on the connection's event
// loop (New and Closed from OnOpen and OnClose, Active from decode, Idle at
// the end of a pass); while it is set, a worker's direct write also wakes
// the loop, so that Idle is reported.
//
// # Limits and operations
//
// Every resource a client controls is bounded; config.go gives each
// default and its reason. Connections: MaxConns (more are closed as soon
// as accepted), MaxConnsPerAddr per source address, and at most
// MaxConns-ReservedConns that have not sent a whole frame yet, the oldest
// of which make way for new ones; FrameTimeout for the first whole frame
// and for a frame left half-sent (lockout.go).
// Server-wide: MaxBufferedTotal for what all connections hold (budget.go).
// A client that shuts down its write side while answers are owed is
// finished on a duplicate of its descriptor after gnet lets it go
// (halfclose.go). Bytes: MaxFrameLen per frame, MaxInbound buffered from one
// connection (also while shutting down), MaxOutbound of answers held for
// one connection, answers being built included (conn.answerRoom). Requests: MaxInFlight per
// connection with the handler. Time: IdleTimeout without a request or
// anything in flight, StallTimeout with answers waiting that the reader
// does not take (idle.go). Log lines: LogRate connection warnings per
// second (lograte.go). A limit never blocks an event loop and never drops
// a request silently: requests wait (deferred, held back), are answered
// with a failure (pushback, overloaded, shutting down; Stats.Rejected), or
// the connection is closed and the close counted under its CloseReason. The sweep of
// idle.go runs on gnet's ticker goroutine (OnTick), one per server, and
// looks at each connection on its event loop (EventLoop.Execute): no
// goroutine or timer per connection. Connection events are logged at
// Debug with the connection's id and remote address. Shutdown half-closes
// each connection once everything dispatched is answered and written
// (shutdown.go).
//
// # Invariants the tests cite
//
//   - I1: every whole REQUEST frame buffered when OnTraffic runs is either
//     dispatched in this pass or left buffered because the connection is
//     under backpressure or at MaxInFlight; none is dropped (TestPipelined,
//     TestMaxInFlight, TestSplitFrames).
//   - I2: every dispatched request is answered exactly once on its
//     connection unless the connection closes first (TestPipelined).
//   - I3: a batch is handed over exactly once: the atomic state machine
//     Serving -> Early | Dispatched -> Completed decides whether the event
//     loop or the completing goroutine finishes it, and done twice panics.
//   - I4: a frame with a bad version, type or length is answered with one
//     SERVER_FAILURE frame (Flink's exception and message) and the
//     connection closes; a frame over MaxFrameLen closes it without a word.
//     The requests before the broken frame are answered first: the
//     connection stops reading, and closes once they are written
//     (conn.end, endIfDone; TestBrokenStream).
//   - I5: gnet's outbound buffer holds no answer byte: the loop writes
//     answers itself and keeps what the kernel did not take in the
//     connection's queue, so a peer's EOF never makes gnet drop an answer,
//     and a half-closed connection gets every answer it is owed
//     (TestHalfCloseFullSocket, TestLargeAnswerWrittenWhole).
//   - I6: memory per connection is bounded: MaxInbound bytes of requests,
//     MaxInFlight requests with the handler, answers waiting plus the
//     answer budgets of the batches with a PartHandler below MaxOutbound
//     (or one answer alone, when nothing else waits), nothing built while
//     pending answers are over HighWatermark, until they drain below
//     LowWatermark (TestBackpressureStopsDispatch, TestOutboundLimit,
//     TestSlowReaderBoundedMemory: Stats.MaxOutbound at most one answer
//     plus LowWatermark). Requests whose
//     answers do not fit are deferred: kept, neither answered nor dropped,
//     and dispatched again once the reader has taken enough. A lent value
//     costs the connection no memory of its own, so the one answer alone
//     is its header when the value is lent: a non-reader of 1 MiB values
//     holds its requests and headers
//     (TestLentValuesBoundMemory, TestLentAnswersQueued).
//   - I7: Shutdown returns only when every connection is closed and every
//     batch is released; nothing the server started runs after it
//     (TestShutdownAnswersInFlight, goleak).
//   - I8: steady-state request handling allocates nothing in the server:
//     decode, copy, dispatch, answer, write (TestServeAllocs,
//     BenchmarkServe), nor along the whole in-process path with package
//     handler, pool handoff included (TestRequestPathAllocs,
//     BenchmarkRequestPath). Over real sockets the pool path adds gnet's
//     two allocations per Conn.Wake, paid only when direct writes are off
//     (handler.BenchmarkTCP reports allocs/req).
//   - I9: answers reach the socket whole and in the order they are handed
//     over, whoever writes them: a worker writes only while direct is on,
//     and the rest of a partial direct write is written by the loop before
//     anything else (TestDirectWritePartial, TestDirectWriteWaitsForQueue,
//     and on real gnet TestDirectWriteGnetPartial); no write follows
//     OnClose (TestDirectWriteAfterClose, TestDirectWriteGnetReusedFd on
//     a reused descriptor); a batch with lent values is written the same
//     way, headers and values in one writev, and the rest of a partial
//     one goes out first too (TestLentBatchThenPartialDirect); a batch with
//     deferred requests turns direct writes off as it goes to the loop
//     (TestDirectWriteDeferredHandsOver); a connection
//     out of in-flight budget with frames waiting is woken by the
//     completion that frees budget (TestDirectWriteInFlightBudget).
//   - I10: limits close or answer, never block or drop silently: the
//     requests a connection buffers past MaxInbound are answered at once
//     with a retryable failure naming the limit (conn.pushBack,
//     Stats.Rejected; TestDeepPipelinePushback), unless its unread answers
//     fill MaxOutbound too (CloseSlowConsumer); one idle for IdleTimeout closes, never
//     earlier, never with a request with the handler or unread in the
//     kernel (CloseIdle), one whose reader takes nothing for StallTimeout
//     closes (CloseSlowConsumer) (TestCheckQuiet,
//     TestIdleTimeout, TestStallTimeout, TestSlowReaders).
//   - I11: a connection under backpressure by a reader that takes nothing
//     costs its event loop no wake-up where its socket's EPOLLOUT is had
//     (TestStalledReaderNotPolled), else one per drainSlowFactor DrainPolls
//     once it has not drained for drainSlowAfter looks (drain.go;
//     TestDrainBackoff, TestSlowReaders).
//   - I12: Shutdown answers what it read: requests dispatched get their
//     answers, those read and not dispatched the shutdown failure (while
//     answers are still being computed, and once more after;
//     TestShutdownRefusesBuffered). It delivers what it answers: a connection with nothing
//     left to write is half-closed and what its client still sends is
//     read and dropped until it closes, goes quiet or shutdownLingerMax
//     passes, so the last answers are not lost to a reset
//     (TestShutdownUnderLoad: answers received equal requests dispatched).
//   - I13: at most LogRate connection warnings a second reach the log; the
//     rest are counted (Stats.LogsSuppressed) and summed up once a second
//     (TestLogRate, TestHostileInput).
//   - I14: hostile input never panics and leaves nothing behind: memory
//     returns to its level, no goroutine is left (TestHostileInput).
package server
