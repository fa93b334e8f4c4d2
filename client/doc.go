// Package client is a Go client for Apache Flink's queryable-state protocol.
// It queries Flink's own proxy (port 9069) and state servers (port 9067) as
// well as qstate's, since only the wire protocol matters.
//
// A Client keeps one pipelined TCP connection per server address, dialled
// on first use. Calls on a connection get request ids 0, 1, 2, ... and wait
// for the response with their id, in whatever order responses arrive. Raw
// calls (GetKvState, GetKvStateInternal) send serialized keys and return
// serialized state; the generic functions GetValue, GetList and GetMap do
// the serialization with the serializers of package state. The text
// helpers (ParseJobID, ParseType, ParseKind, KeyText, FormatContent) serve
// tools that pick types by name at run time, such as `qstate query`.
//
// What it must not do: block a caller beyond its context (every call takes
// a context.Context and returns when it ends); start a goroutine per
// request; trust the server (frame lengths are bounded by
// Config.MaxFrameLen, every decode error is an error, never a panic); retry
// on its own (a failed request is reported, the caller decides).
//
// Ownership of byte slices:
//
//   - keyAndNamespace and the other arguments are copied into the
//     connection's outgoing buffer before the call waits; the caller may
//     reuse them as soon as the call returns.
//   - The content returned by GetKvState and GetKvStateInternal belongs to
//     the caller. It comes from bufpool: a caller that is done with it may
//     hand it to bufpool.Put (and must not touch it afterwards); one that
//     does not simply lets the garbage collector have it.
//   - Typed look-ups return values that share no memory with the client.
//
// Goroutines: any number of goroutines may call a Client's methods
// concurrently. Each connection runs two goroutines of its own: a writer,
// which dials and then writes the frames callers queue, and a reader, which
// decodes responses and completes the waiting calls. Close stops both for
// every connection and waits for them.
//
// Invariants the tests cite:
//
//   - C1: request ids on a connection start at 0 and grow by one per
//     request, including requests queued while the connection dials.
//   - C2: every call returns exactly once, with its answer, its request's
//     failure, its connection's failure or its context's error; when it
//     returns, its request is no longer in flight.
//   - C3: no goroutine per request: a connection owns exactly two, and
//     after Close none is left.
//   - C4: a SERVER_FAILURE frame or a broken stream (read or write error,
//     bad version or type, undecodable body, frame over the limit, EOF)
//     fails every request in flight on that connection with one error that
//     says why, closes the connection and forgets it; the next call dials a
//     new one. Response ids that match no request in flight are ignored.
//   - C5: a REQUEST_FAILURE fails only its own request, with a
//     *RequestError that unwraps to the decoded *codec.JavaException.
//   - C6: writes are batched: frames queued while the writer is busy go out
//     together in its next single Write.
//   - C7: memory per connection is bounded: the read buffer is
//     Config.ReadBufferSize, or while a larger frame arrives the bufpool
//     size class of that frame (frames are at most Config.MaxFrameLen); at
//     most Config.MaxInFlight requests wait on a connection, and at most
//     64 MiB of frames wait unsent.
package client
