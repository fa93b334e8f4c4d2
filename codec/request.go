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

// AppendKvStateRequestFrame appends a whole REQUEST frame carrying r.
func AppendKvStateRequestFrame(dst []byte, requestID int64, r KvStateRequest) []byte {
	dst = AppendHeader(dst, Request, requestID, KvStateRequestSize(r))
	return AppendKvStateRequest(dst, r)
}

// DecodeKvStateRequest decodes a KvStateRequest body. Bytes after the key
// and namespace are ignored, as Flink ignores them.
func DecodeKvStateRequest(body []byte) (KvStateRequest, error) {
	var r KvStateRequest
	if len(body) < 16+4 {
		return r, fmt.Errorf("%w: KvStateRequest of %d bytes has no job id and name length", ErrTruncated, len(body))
	}
	copy(r.JobID[:], body)
	name, rest, err := readBytes(body[16:], "state name")
	if err != nil {
		return r, err
	}
	if len(rest) < 4 {
		return r, fmt.Errorf("%w: KvStateRequest has no key hash", ErrTruncated)
	}
	r.KeyHash = int32(binary.BigEndian.Uint32(rest))
	kv, _, err := readBytes(rest[4:], "key and namespace")
	if err != nil {
		return r, err
	}
	r.StateName, r.KeyAndNamespace = name, kv
	return r, nil
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

// AppendKvStateInternalRequestFrame appends a whole REQUEST frame carrying r.
func AppendKvStateInternalRequestFrame(dst []byte, requestID int64, r KvStateInternalRequest) []byte {
	dst = AppendHeader(dst, Request, requestID, KvStateInternalRequestSize(r))
	return AppendKvStateInternalRequest(dst, r)
}

// DecodeKvStateInternalRequest decodes a KvStateInternalRequest body.
// Bytes after the key and namespace are ignored.
func DecodeKvStateInternalRequest(body []byte) (KvStateInternalRequest, error) {
	var r KvStateInternalRequest
	if len(body) < 16 {
		return r, fmt.Errorf("%w: KvStateInternalRequest of %d bytes has no KvStateID", ErrTruncated, len(body))
	}
	copy(r.KvStateID[:], body)
	kv, _, err := readBytes(body[16:], "key and namespace")
	if err != nil {
		return r, err
	}
	r.KeyAndNamespace = kv
	return r, nil
}

// AppendKvStateResponse appends a KvStateResponse body: the content length and content.
func AppendKvStateResponse(dst []byte, content []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(content)))
	return append(dst, content...)
}

// DecodeKvStateResponse decodes a KvStateResponse body and returns its
// content, a view into body.
func DecodeKvStateResponse(body []byte) ([]byte, error) {
	c, _, err := readBytes(body, "state content")
	return c, err
}

// readBytes reads an i32 length and that many bytes. what names the field in errors.
func readBytes(b []byte, what string) (v, rest []byte, err error) {
	if len(b) < 4 {
		return nil, nil, fmt.Errorf("%w: no length for %s", ErrTruncated, what)
	}
	n := int32(binary.BigEndian.Uint32(b))
	if n < 0 {
		return nil, nil, fmt.Errorf("%w: %d for %s", ErrNegativeLength, n, what)
	}
	b = b[4:]
	if int64(n) > int64(len(b)) {
		return nil, nil, fmt.Errorf("%w: %s needs %d bytes, %d left", ErrTruncated, what, n, len(b))
	}
	return b[:n], b[n:], nil
}
