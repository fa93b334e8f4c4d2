// Package codec holds Apache Flink's queryable-state wire format: the frame
// header, the message types, the request and response bodies, and the
// Java-serialized Throwables that carry failures.
//
// It must not do I/O, start goroutines, log, or keep state between calls:
// every function is a pure transformation of bytes.
//
// Ownership of byte slices:
//
//   - Decoded values (Frame.Body, KvStateRequest.StateName,
//     KvStateRequest.KeyAndNamespace, KvStateInternalRequest.KeyAndNamespace,
//     the content returned by DecodeKvStateResponse) are views into the
//     caller's input. They are valid while the caller keeps that input
//     unchanged; copy them to keep them longer.
//   - Append* functions extend the caller's dst and return it, like append.
//     They never retain dst or any argument after they return.
//
// Invariants the tests cite:
//
//   - I1: DecodeFrame never reads past b and never allocates.
//   - I2: an encoded frame's length prefix equals the number of bytes after
//     it, computed exactly (no padding), as Flink's MessageSerializer does.
//   - I3: decoding hostile input returns an error wrapping one of the
//     sentinels in errors.go; it never panics.
package codec
