package codec

import (
	"encoding/binary"
	"fmt"
)

// KvStateRequest is the body of a REQUEST sent to the proxy port
// (Flink's KvStateRequest): which job and queryable state, the Java
// hashCode of the key object, and the serialized key and namespace.
// StateName and KeyAndNamespace are views into the decoded body.
type KvStateRequest struct {
	JobID           [16]byte // JobID bytes, in the order of its 32-char hex form
	StateName       []byte   // UTF-8 queryable state name
	KeyHash         int32    // Java key.hashCode()
	KeyAndNamespace []byte   // key bytes, 0x2A, namespace bytes
}

// KvStateInternalRequest is the body of a REQUEST sent to the state-server
// port (Flink's KvStateInternalRequest). KeyAndNamespace is a view into the
// decoded body.
type KvStateInternalRequest struct {
	KvStateID       [16]byte
	KeyAndNamespace []byte
}

// KvStateRequestSize is the body size of r.
func KvStateRequestSize(r KvStateRequest) int {
	return 16 + 4 + len(r.StateName) + 4 + 4 + len(r.KeyAndNamespace)
}

// AppendKvStateRequest appends the body of r.
func AppendKvStateRequest(dst []byte, r KvStateRequest) []byte {
	dst = append(dst, r.JobID[:]...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(r.StateName)))
	dst = append(dst, r.StateName...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(r.KeyHash))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(r.KeyAndNamespace)))
	return append(dst, r.KeyAndNamespace...)
}

// KvStateRequestFrameSize is the size of the frame AppendKvStateRequestFrame writes for r.
func KvStateRequestFrameSize(r KvStateRequest) int { return FrameSize(Request, KvStateRequestSize(r)) }

// AppendKvStateRequestFrame appends a whole REQUEST frame carrying r.
func AppendKvStateRequestFrame(dst []byte, requestID int64, r KvStateRequest) []byte {
	dst = AppendHeader(dst, Request, requestID, KvStateRequestSize(r))
	return AppendKvStateRequest(dst, r)
}

// DecodeKvStateRequest decodes a KvStateRequest body. StateName and
// KeyAndNamespace view into body (their capacity ends with them). Bytes
// after the key and namespace are ignored, as Flink ignores them. A short
// body returns ErrTruncated, a negative name or key length
// ErrNegativeLength; it never allocates unless it returns an error.
func DecodeKvStateRequest(body []byte) (KvStateRequest, error) {
	// Fast path for a well-formed body, measured by
	// BenchmarkDecodeKvStateRequestFrame; anything else takes the checked
	// path below, which alone builds errors.
	const fixed = 16 + 4 + 4 + 4 // job id, name length, key hash, key length
	if len(body) >= fixed {
		nameLen := int64(int32(binary.BigEndian.Uint32(body[16:])))
		if nameLen >= 0 && nameLen <= int64(len(body)-fixed) {
			ne := 20 + int(nameLen)
			kvLen := int64(int32(binary.BigEndian.Uint32(body[ne+4:])))
			if kvLen >= 0 && kvLen <= int64(len(body)-ne-8) {
				ke := ne + 8 + int(kvLen)
				return KvStateRequest{
					JobID:           [16]byte(body[:16]),
					StateName:       body[20:ne:ne],
					KeyHash:         int32(binary.BigEndian.Uint32(body[ne:])),
					KeyAndNamespace: body[ne+8 : ke : ke],
				}, nil
			}
		}
	}
	return decodeKvStateRequest(body)
}

// decodeKvStateRequest is DecodeKvStateRequest field by field, with errors.
func decodeKvStateRequest(body []byte) (KvStateRequest, error) {
	if len(body) < 16 {
		return KvStateRequest{}, truncatedError("job id", 16, len(body))
	}
	name, rest, err := readBytes(body[16:], "state name")
	if err != nil {
		return KvStateRequest{}, err
	}
	if len(rest) < 4 {
		return KvStateRequest{}, truncatedError("key hash", 4, len(rest))
	}
	kv, _, err := readBytes(rest[4:], "key and namespace")
	if err != nil {
		return KvStateRequest{}, err
	}
	return KvStateRequest{
		JobID:           [16]byte(body[:16]),
		StateName:       name,
		KeyHash:         int32(binary.BigEndian.Uint32(rest)),
		KeyAndNamespace: kv,
	}, nil
}

// KvStateInternalRequestSize is the body size of r.
func KvStateInternalRequestSize(r KvStateInternalRequest) int {
	return 16 + 4 + len(r.KeyAndNamespace)
}

// AppendKvStateInternalRequest appends the body of r.
func AppendKvStateInternalRequest(dst []byte, r KvStateInternalRequest) []byte {
	dst = append(dst, r.KvStateID[:]...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(r.KeyAndNamespace)))
	return append(dst, r.KeyAndNamespace...)
}

// KvStateInternalRequestFrameSize is the size of the frame
// AppendKvStateInternalRequestFrame writes for r.
func KvStateInternalRequestFrameSize(r KvStateInternalRequest) int {
	return FrameSize(Request, KvStateInternalRequestSize(r))
}

// AppendKvStateInternalRequestFrame appends a whole REQUEST frame carrying r.
func AppendKvStateInternalRequestFrame(dst []byte, requestID int64, r KvStateInternalRequest) []byte {
	dst = AppendHeader(dst, Request, requestID, KvStateInternalRequestSize(r))
	return AppendKvStateInternalRequest(dst, r)
}

// DecodeKvStateInternalRequest decodes a KvStateInternalRequest body.
// KeyAndNamespace views into body (its capacity ends with it). Bytes after
// the key and namespace are ignored. Errors as for DecodeKvStateRequest.
func DecodeKvStateInternalRequest(body []byte) (KvStateInternalRequest, error) {
	if len(body) < 16 {
		return KvStateInternalRequest{}, truncatedError("KvStateID", 16, len(body))
	}
	kv, _, err := readBytes(body[16:], "key and namespace")
	if err != nil {
		return KvStateInternalRequest{}, err
	}
	return KvStateInternalRequest{KvStateID: [16]byte(body[:16]), KeyAndNamespace: kv}, nil
}

// KvStateResponseSize is the body size of a KvStateResponse carrying contentLen bytes.
func KvStateResponseSize(contentLen int) int { return 4 + contentLen }

// AppendKvStateResponse appends a KvStateResponse body: the content length and content.
func AppendKvStateResponse(dst []byte, content []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(content)))
	return append(dst, content...)
}

// DecodeKvStateResponse decodes a KvStateResponse body and returns its
// content, a view into body. Bytes after the content are ignored. A short
// body returns ErrTruncated, a negative length ErrNegativeLength.
func DecodeKvStateResponse(body []byte) ([]byte, error) {
	c, _, err := readBytes(body, "state content")
	return c, err
}

// readBytes reads an i32 length and that many bytes, returned with their
// capacity ending with them. what names the field in errors.
func readBytes(b []byte, what string) (v, rest []byte, err error) {
	if len(b) < 4 {
		return nil, nil, truncatedError(what+" length", 4, len(b))
	}
	n := int32(binary.BigEndian.Uint32(b))
	if n < 0 || int64(n) > int64(len(b)-4) {
		return nil, nil, lengthError(what, n, len(b)-4)
	}
	end := 4 + int(n)
	return b[4:end:end], b[end:], nil
}

// truncatedError reports a fixed field of need bytes with only have left.
//
//go:noinline
func truncatedError(what string, need, have int) error {
	return fmt.Errorf("%w: %s needs %d bytes, %d left", ErrTruncated, what, need, have)
}

// lengthError reports a length field n that is negative or longer than
// the have bytes left.
//
//go:noinline
func lengthError(what string, n int32, have int) error {
	if n < 0 {
		return fmt.Errorf("%w: %d for %s", ErrNegativeLength, n, what)
	}
	return fmt.Errorf("%w: %s needs %d bytes, %d left", ErrTruncated, what, n, have)
}
