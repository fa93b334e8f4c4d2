// Package codec holds Apache Flink's queryable-state wire format: the frame
// header, the message types, the request and response bodies, and the
// Java-serialized Throwables that carry failures.
//
// It must not do I/O, start goroutines, log, or keep state between calls:
// every function is a pure transformation of bytes, safe to call from any
// goroutine at any time (the server's event loops decode, its pool workers
// encode, the client does both).
//
// Frames (frame.go): DecodeFrame reads one frame at the start of a buffer
// that may hold less than a frame (n == 0, nil error: read more) or more
// (n says where the next one starts). Its maxLen bounds the length prefix;
// the default, DefaultMaxFrameLen, is 4 MiB for every reader, server and
// client alike (Flink allows 2^31-1). It
// checks the prefix, version, type and the room for a request id as soon
// as their bytes are there, so a broken stream is rejected after at most
// 12 bytes, never after waiting for a frame that will not come. Encoders
// are Append* functions with a *Size function that gives the exact size
// first, so the caller can take a buffer of the right class from bufpool.
// Bodies (request.go): KvStateRequest, KvStateInternalRequest and
// KvStateResponse, each with Append*, Decode* and *Size; decoders bound
// every length by the bytes left before using it.
//
// Ownership of byte slices:
//
//   - Decoded values (Frame.Body, KvStateRequest.StateName,
//     KvStateRequest.KeyAndNamespace, KvStateInternalRequest.KeyAndNamespace,
//     the content returned by DecodeKvStateResponse) are views into the
//     caller's input. They are valid while the caller keeps that input
//     unchanged; copy them to keep them longer. Their capacity ends where
//     they end, so appending to one copies it rather than overwriting the
//     input (I5).
//   - Append* functions extend the caller's dst and return it, like append.
//     They never retain dst or any argument after they return.
//   - DecodeFailure returns a *JavaException that shares nothing with its
//     input. UnknownKeyOrNamespacePayload returns, for ServerName and
//     ProxyName, bytes shared by every caller: read-only, for ever.
//
// Failures (throwable.go, failures.go, jserial.go): a REQUEST_FAILURE or SERVER_FAILURE
// payload is a Java Object Serialization stream of a Throwable, modelled as
// *JavaException (class name, message, cause chain; an error that errors.Is
// matches against ErrUnknownKeyOrNamespace and the other sentinels).
// AppendThrowable writes exactly what the JDK's ObjectOutputStream writes
// for such a Throwable with empty stack traces, and only the classes of
// ExceptionClass, whose names and serialVersionUIDs the Java client has: any
// other class would make it close the connection. DecodeFailure reads a
// failure frame back with the package's own reader of JDK streams
// (jserial.go, unexported: how a stream is read is not API). It reads any
// stream (any class, custom writeObject data, externalizable block data,
// proxies, enums, arrays) and keeps only the Throwable's class,
// detailMessage and cause; every count and length in its input is checked
// against the bytes left and against fixed bounds (nesting 128, 65,536
// handles, 262,144 values, MaxCauseChain causes) before use. Its only
// package state is the missing-key payload for ServerName and ProxyName,
// computed once on first use and immutable after. Every function may be
// called from any goroutine at once; none modifies a *JavaException it is
// given. failures.go holds every failure a node raises, with Flink's text
// (or, without a Flink counterpart, the server's name first): packages
// server, handler and cluster build theirs there and nowhere else.
//
// Invariants the tests cite:
//
//   - I1: DecodeFrame and the body decoders never read past their input
//     and allocate nothing unless they return an error (TestFrameHotPathAllocs,
//     TestDecodeFrameSplitAtEveryOffset, TestBodyTruncation; cut inputs
//     have cap == len).
//   - I2: an encoded frame's length prefix equals the number of bytes after
//     it, computed exactly (no padding), as Flink's MessageSerializer does;
//     our encoders write Flink's golden frames byte for byte
//     (TestGoldenRequestFrames and the other TestGolden* tests).
//   - I3: decoding hostile input returns an error wrapping one of the
//     sentinels in errors.go; it never panics (TestDecodeFrameErrors,
//     TestBodyBadLengths, the Fuzz* targets of frame_fuzz_test.go).
//   - I4: DecodeFrame reports incomplete input as n == 0 with a nil error,
//     and its errors depend only on the first 12 bytes, so they come as
//     soon as those bytes are buffered (TestDecodeFrameErrors,
//     FuzzDecodeFrame).
//   - I5: decoded views alias the input at their offset, with capacity
//     ending at their end (TestBodyViews, the Fuzz* targets).
//   - I6: for valid input, decode then encode gives back the bytes decoded
//     (the Fuzz* targets, TestGoldenExchanges).
//   - T1: AppendThrowable's output for a cause-less exception equals the
//     JDK's bytes for the golden vectors; Java reads every payload we write
//     and serializes what it read back to our exact bytes (TestJavaInterop).
//   - T2: AppendThrowable and the cached missing-key payload allocate
//     nothing when dst has room (TestThrowableAllocs).
//   - T3: DecodeFailure never panics; its errors wrap ErrJavaStream with the
//     offset; what it reads re-encodes and re-reads to the same values
//     (FuzzReadThrowable, TestReadThrowableHostile).
//   - T4: every failure other packages send is built in failures.go, with
//     Flink's class and text, and is sendable (TestFailureTexts, and the
//     golden exchanges of packages server and handler).
package codec
