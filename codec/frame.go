package codec

import (
	"encoding/binary"
	"fmt"

	"github.com/qstate/qstate/internal/enumname"
)

// Version is the protocol version every frame carries (Flink's
// MessageSerializer.VERSION, 2040641296).
const Version int32 = 0x79a1b710

// Sizes of the fixed parts of a frame.
const (
	// LengthLen is the size of the frame length prefix.
	LengthLen = 4
	// HeaderLen is the size of version and message type, the first bytes counted by the prefix.
	HeaderLen = 8
	// RequestIDLen is the size of the request id that follows the header of every type but SERVER_FAILURE.
	RequestIDLen = 8
	// DefaultMaxFrameLen is the default limit on a frame's length prefix
	// (4 MiB), the one default of every reader of frames: the server's for
	// requests (server.Config.MaxFrameLen), the client's and the load
	// harness's for answers. Flink accepts up to 2^31-1; we never do. A
	// request holds one key (bytes to kilobytes); an answer holds a whole
	// value, list or map, so the limit is set for answers: values of
	// megabytes pass, and it equals the server's default inbound buffer per
	// connection (server.DefaultMaxInbound), so a request frame at the limit
	// fits it and the per-connection memory bound stays what it was.
	DefaultMaxFrameLen = 4 << 20
)

// MessageType is the kind of a frame (Flink's MessageType ordinal).
type MessageType int32

// The four message types of the protocol.
const (
	Request        MessageType = 0 // client -> server: request id, request body
	RequestResult  MessageType = 1 // server -> client: request id, KvStateResponse body
	RequestFailure MessageType = 2 // server -> client: request id, serialized Throwable
	ServerFailure  MessageType = 3 // server -> client: serialized Throwable, no request id
)

// String returns Flink's name of the type.
func (t MessageType) String() string { return messageTypes.String(t) }

var messageTypes = enumname.Table[MessageType]{Type: "MessageType", Names: []string{
	Request: "REQUEST", RequestResult: "REQUEST_RESULT", RequestFailure: "REQUEST_FAILURE", ServerFailure: "SERVER_FAILURE",
}}

// Valid reports whether t is one of the four types.
func (t MessageType) Valid() bool { return t >= Request && t <= ServerFailure }

// HasRequestID reports whether frames of type t carry a request id.
func (t MessageType) HasRequestID() bool { return t != ServerFailure }

// Frame is one decoded frame. Body is a view into the decoder's input:
// for REQUEST, REQUEST_RESULT and REQUEST_FAILURE it is what follows the
// request id; for SERVER_FAILURE, what follows the header.
type Frame struct {
	Type      MessageType // one of the four valid types
	RequestID int64       // echoed by the server; 0 for SERVER_FAILURE
	Body      []byte      // request body, KvStateResponse body or Throwable payload
}

// FrameLength reads the length prefix at the start of b. ok is false when
// b holds fewer than LengthLen bytes. It does not check the value; see
// CheckFrameLength.
func FrameLength(b []byte) (n int32, ok bool) {
	if len(b) < LengthLen {
		return 0, false
	}
	return int32(binary.BigEndian.Uint32(b)), true
}

// CheckFrameLength validates a length prefix against the limit maxLen
// (DefaultMaxFrameLen when maxLen <= 0): it must not be negative, must hold
// the header, and must not exceed the limit.
func CheckFrameLength(n int32, maxLen int) error {
	if maxLen <= 0 {
		maxLen = DefaultMaxFrameLen
	}
	if n < HeaderLen || int64(n) > int64(maxLen) {
		return frameLengthError(n, maxLen)
	}
	return nil
}

// frameLengthError builds CheckFrameLength's error; kept out of line so the
// checks inline and the hot path carries no formatting code.
//
//go:noinline
func frameLengthError(n int32, maxLen int) error {
	switch {
	case n < 0:
		return fmt.Errorf("%w: frame length %d", ErrNegativeLength, n)
	case n < HeaderLen:
		return fmt.Errorf("%w: %d bytes", ErrFrameTooShort, n)
	}
	return fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, maxLen)
}

// MinFrameLen returns the smallest length prefix a frame of type t can
// carry: the header, plus the request id for types that have one.
func MinFrameLen(t MessageType) int {
	if t.HasRequestID() {
		return HeaderLen + RequestIDLen
	}
	return HeaderLen
}

// DecodeFrame decodes the frame at the start of b, which begins with the
// length prefix. maxLen limits the length prefix (the bytes after it);
// maxLen <= 0 means DefaultMaxFrameLen.
//
// When b holds less than a whole frame and what it holds is valid so far,
// DecodeFrame returns n == 0 and a nil error: incomplete input is not an
// error. Otherwise n is the number of bytes the frame takes in b (prefix
// included) and f views into b[:n].
//
// Errors are reported as soon as the bytes that show them are buffered,
// without waiting for the rest of the frame: the length prefix (negative,
// over maxLen, under HeaderLen) after 4 bytes, the version after 8, the
// message type and a frame too short for its request id after 12. Every
// error wraps a sentinel of errors.go; the caller should treat the stream
// as broken. DecodeFrame allocates nothing unless it returns an error (I1).
func DecodeFrame(b []byte, maxLen int) (f Frame, n int, err error) {
	// Fast path, measured by BenchmarkDecodeKvStateRequestFrame: a whole
	// frame with a request id and a valid header, checked in one go.
	if len(b) >= LengthLen+HeaderLen+RequestIDLen {
		ln := int64(int32(binary.BigEndian.Uint32(b)))
		t := MessageType(binary.BigEndian.Uint32(b[8:]))
		limit := int64(maxLen)
		if limit <= 0 {
			limit = DefaultMaxFrameLen
		}
		if int32(binary.BigEndian.Uint32(b[4:])) == Version && uint32(t) < uint32(ServerFailure) &&
			ln >= HeaderLen+RequestIDLen && ln <= limit && ln <= int64(len(b)-LengthLen) {
			total := LengthLen + int(ln)
			return Frame{Type: t, RequestID: int64(binary.BigEndian.Uint64(b[12:])), Body: b[20:total:total]}, total, nil
		}
	}
	return decodeFrame(b, maxLen)
}

// decodeFrame is DecodeFrame for every input its fast path does not take.
func decodeFrame(b []byte, maxLen int) (f Frame, n int, err error) {
	ln, ok := FrameLength(b)
	if !ok {
		return Frame{}, 0, nil
	}
	if err := CheckFrameLength(ln, maxLen); err != nil {
		return Frame{}, 0, err
	}
	// The header can be checked before the whole frame arrives; doing so
	// rejects a broken stream without waiting for bytes that may never come.
	if err := checkHeader(b[LengthLen:], int(ln)); err != nil {
		return Frame{}, 0, err
	}
	total := LengthLen + int(ln)
	if len(b) < total {
		return Frame{}, 0, nil
	}
	return decodeFrameContent(b[LengthLen:total]), total, nil
}

// DecodeFrameContent decodes a frame whose length prefix has already been
// stripped: content is exactly the bytes the prefix counts. The returned
// Frame views into content.
func DecodeFrameContent(content []byte) (Frame, error) {
	if len(content) < HeaderLen {
		return Frame{}, fmt.Errorf("%w: %d bytes", ErrFrameTooShort, len(content))
	}
	if err := checkHeader(content, len(content)); err != nil {
		return Frame{}, err
	}
	return decodeFrameContent(content), nil
}

// checkHeader checks as much of the header at the start of h as is there,
// for a frame whose length prefix is ln (already checked to be >= HeaderLen).
func checkHeader(h []byte, ln int) error {
	if len(h) < 4 {
		return nil
	}
	if int32(binary.BigEndian.Uint32(h)) != Version {
		return headerError(h, ln)
	}
	if len(h) < HeaderLen {
		return nil
	}
	if t := MessageType(binary.BigEndian.Uint32(h[4:])); !t.Valid() || ln < MinFrameLen(t) {
		return headerError(h, ln)
	}
	return nil
}

// headerError builds checkHeader's error, out of line.
//
//go:noinline
func headerError(h []byte, ln int) error {
	if v := int32(binary.BigEndian.Uint32(h)); v != Version {
		return fmt.Errorf("%w: found %d, expected %d", ErrBadVersion, v, Version)
	}
	t := MessageType(binary.BigEndian.Uint32(h[4:]))
	if !t.Valid() {
		return fmt.Errorf("%w: %d", ErrUnknownMessageType, int32(t))
	}
	return fmt.Errorf("%w: %s frame of %d bytes has no room for its request id", ErrFrameTooShort, t, ln)
}

// decodeFrameContent decodes a whole frame (prefix stripped) whose header
// checkHeader accepted. Body's capacity ends with the frame, so appending
// to it cannot overwrite the next frame.
func decodeFrameContent(c []byte) Frame {
	t := MessageType(binary.BigEndian.Uint32(c[4:]))
	if !t.HasRequestID() {
		return Frame{Type: t, Body: c[HeaderLen:len(c):len(c)]}
	}
	return Frame{Type: t, RequestID: int64(binary.BigEndian.Uint64(c[HeaderLen:])), Body: c[HeaderLen+RequestIDLen : len(c) : len(c)]}
}

// FrameSize returns the number of bytes, prefix included, of a frame of
// type t whose body is bodyLen bytes long.
func FrameSize(t MessageType, bodyLen int) int {
	n := LengthLen + HeaderLen + bodyLen
	if t.HasRequestID() {
		n += RequestIDLen
	}
	return n
}

// AppendHeader appends the prefix, header and (for types that have one) the
// request id of a frame of type t whose body will be bodyLen bytes long. The
// caller appends exactly bodyLen bytes of body next (I2). requestID is
// ignored for SERVER_FAILURE. The caller keeps frames within the peer's
// limit; the length prefix of a frame over 2^31-1 bytes would wrap.
func AppendHeader(dst []byte, t MessageType, requestID int64, bodyLen int) []byte {
	n := FrameSize(t, bodyLen) - LengthLen
	dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	dst = binary.BigEndian.AppendUint32(dst, uint32(Version))
	dst = binary.BigEndian.AppendUint32(dst, uint32(t))
	if t.HasRequestID() {
		dst = binary.BigEndian.AppendUint64(dst, uint64(requestID))
	}
	return dst
}

// AppendResultFrame appends a whole REQUEST_RESULT frame answering
// requestID with the serialized state content.
func AppendResultFrame(dst []byte, requestID int64, content []byte) []byte {
	dst = AppendHeader(dst, RequestResult, requestID, 4+len(content))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(content)))
	return append(dst, content...)
}

// ResultFrameSize is the size of the frame AppendResultFrame writes for
// contentLen bytes of content.
func ResultFrameSize(contentLen int) int { return FrameSize(RequestResult, 4+contentLen) }

// RequestFailureFrameSize is the size of the frame AppendRequestFailureFrame
// writes for a payload of payloadLen bytes.
func RequestFailureFrameSize(payloadLen int) int { return FrameSize(RequestFailure, payloadLen) }

// ServerFailureFrameSize is the size of the frame AppendServerFailureFrame
// writes for a payload of payloadLen bytes.
func ServerFailureFrameSize(payloadLen int) int { return FrameSize(ServerFailure, payloadLen) }

// AppendRequestFailureFrame appends a whole REQUEST_FAILURE frame for
// requestID carrying payload, a Java-serialized Throwable (see AppendThrowable).
func AppendRequestFailureFrame(dst []byte, requestID int64, payload []byte) []byte {
	dst = AppendHeader(dst, RequestFailure, requestID, len(payload))
	return append(dst, payload...)
}

// AppendServerFailureFrame appends a whole SERVER_FAILURE frame carrying
// payload, a Java-serialized Throwable. It has no request id.
func AppendServerFailureFrame(dst []byte, payload []byte) []byte {
	dst = AppendHeader(dst, ServerFailure, 0, len(payload))
	return append(dst, payload...)
}
