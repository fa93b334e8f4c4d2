package codec_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"unsafe"

	"github.com/qstate/qstate/codec"
)

// requestTestBodies returns the golden body of every kind a body decoder
// reads, keyed by a decoder name.
func requestTestBodies(t *testing.T) map[string][][]byte {
	t.Helper()
	out := map[string][][]byte{}
	for _, v := range frameTestKind(t, "request_frame") {
		out["KvStateRequest"] = append(out["KvStateRequest"], v.Hex("body_hex"))
	}
	for _, v := range frameTestKind(t, "internal_request_frame") {
		out["KvStateInternalRequest"] = append(out["KvStateInternalRequest"], v.Hex("body_hex"))
	}
	for _, v := range frameTestKind(t, "response_frame") {
		out["KvStateResponse"] = append(out["KvStateResponse"], v.Hex("body_hex"))
	}
	return out
}

// requestTestDecode runs the named body decoder and returns the number of
// bytes its result accounts for.
func requestTestDecode(name string, body []byte) (int, error) {
	switch name {
	case "KvStateRequest":
		r, err := codec.DecodeKvStateRequest(body)
		return codec.KvStateRequestSize(r), err
	case "KvStateInternalRequest":
		r, err := codec.DecodeKvStateInternalRequest(body)
		return codec.KvStateInternalRequestSize(r), err
	case "KvStateResponse":
		c, err := codec.DecodeKvStateResponse(body)
		return codec.KvStateResponseSize(len(c)), err
	}
	panic("unknown decoder " + name)
}

// TestBodyTruncation: every strict prefix of a golden body is ErrTruncated
// (cut with cap == len, so a read past it panics); the whole body decodes
// and accounts for all its bytes; trailing bytes are ignored.
func TestBodyTruncation(t *testing.T) {
	for name, bodies := range requestTestBodies(t) {
		t.Run(name, func(t *testing.T) {
			for _, body := range bodies {
				for k := 0; k < len(body); k++ {
					if _, err := requestTestDecode(name, body[:k:k]); !errors.Is(err, codec.ErrTruncated) {
						t.Fatalf("body %x cut to %d bytes: error %v, want ErrTruncated", frameTestHead(body), k, err)
					}
				}
				n, err := requestTestDecode(name, body[:len(body):len(body)])
				if err != nil || n != len(body) {
					t.Fatalf("whole body %x: size %d of %d, err %v", frameTestHead(body), n, len(body), err)
				}
				n, err = requestTestDecode(name, append(append([]byte{}, body...), 0xde, 0xad))
				if err != nil || n != len(body) {
					t.Fatalf("body with trailing bytes: size %d of %d, err %v", n, len(body), err)
				}
			}
		})
	}
}

// requestTestPatch returns a copy of body with an i32 written at off.
func requestTestPatch(body []byte, off int, v int32) []byte {
	b := append([]byte{}, body...)
	binary.BigEndian.PutUint32(b[off:], uint32(v))
	return b
}

// TestBodyBadLengths: negative lengths are ErrNegativeLength, lengths past
// the end ErrTruncated, for each length field of each body.
func TestBodyBadLengths(t *testing.T) {
	req := frameTestKind(t, "request_frame")[0].Hex("body_hex") // name "state", 6 key bytes
	nameLen := 16
	kvLen := 16 + 4 + 5 + 4
	internal := frameTestKind(t, "internal_request_frame")[0].Hex("body_hex")
	resp := frameTestKind(t, "response_frame")[0].Hex("body_hex")
	if got := binary.BigEndian.Uint32(req[nameLen:]); got != 5 {
		t.Fatalf("first request_frame vector has a name of %d bytes; the offsets below assume 5", got)
	}

	tests := []struct {
		name    string
		decoder string
		body    []byte
		err     error
	}{
		{"name -1", "KvStateRequest", requestTestPatch(req, nameLen, -1), codec.ErrNegativeLength},
		{"name MinInt32", "KvStateRequest", requestTestPatch(req, nameLen, -1<<31), codec.ErrNegativeLength},
		{"name MaxInt32", "KvStateRequest", requestTestPatch(req, nameLen, 1<<31-1), codec.ErrTruncated},
		{"name one too long", "KvStateRequest", requestTestPatch(req, nameLen, int32(len(req)-nameLen-4+1)), codec.ErrTruncated},
		{"kv -1", "KvStateRequest", requestTestPatch(req, kvLen, -1), codec.ErrNegativeLength},
		{"kv MinInt32", "KvStateRequest", requestTestPatch(req, kvLen, -1<<31), codec.ErrNegativeLength},
		{"kv one too long", "KvStateRequest", requestTestPatch(req, kvLen, 7), codec.ErrTruncated},
		{"internal kv -1", "KvStateInternalRequest", requestTestPatch(internal, 16, -1), codec.ErrNegativeLength},
		{"internal kv MinInt32", "KvStateInternalRequest", requestTestPatch(internal, 16, -1<<31), codec.ErrNegativeLength},
		{"internal kv MaxInt32", "KvStateInternalRequest", requestTestPatch(internal, 16, 1<<31-1), codec.ErrTruncated},
		{"content -1", "KvStateResponse", requestTestPatch(resp, 0, -1), codec.ErrNegativeLength},
		{"content MinInt32", "KvStateResponse", requestTestPatch(resp, 0, -1<<31), codec.ErrNegativeLength},
		{"content one too long", "KvStateResponse", requestTestPatch(resp, 0, int32(len(resp)-4+1)), codec.ErrTruncated},
		{"empty request", "KvStateRequest", nil, codec.ErrTruncated},
		{"empty internal", "KvStateInternalRequest", nil, codec.ErrTruncated},
		{"empty response", "KvStateResponse", nil, codec.ErrTruncated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := requestTestDecode(tc.decoder, tc.body); !errors.Is(err, tc.err) {
				t.Errorf("%s(%x): error %v, want %v", tc.decoder, tc.body, err, tc.err)
			}
		})
	}
}

// TestBodyEmptyFields: zero-length name, key and content are valid and
// decode as empty.
func TestBodyEmptyFields(t *testing.T) {
	body := codec.AppendKvStateRequest(nil, codec.KvStateRequest{KeyHash: -7})
	if len(body) != 28 {
		t.Fatalf("empty KvStateRequest body of %d bytes, want 28", len(body))
	}
	r, err := codec.DecodeKvStateRequest(body)
	if err != nil || len(r.StateName) != 0 || len(r.KeyAndNamespace) != 0 || r.KeyHash != -7 {
		t.Errorf("empty KvStateRequest: %+v, %v", r, err)
	}
	ir, err := codec.DecodeKvStateInternalRequest(make([]byte, 20))
	if err != nil || len(ir.KeyAndNamespace) != 0 || ir.KvStateID != [16]byte{} {
		t.Errorf("empty KvStateInternalRequest: %+v, %v", ir, err)
	}
	c, err := codec.DecodeKvStateResponse([]byte{0, 0, 0, 0})
	if err != nil || len(c) != 0 {
		t.Errorf("empty KvStateResponse: %x, %v", c, err)
	}
}

// TestBodyViews: decoded byte fields view into the body, they are not copies.
func TestBodyViews(t *testing.T) {
	v := frameTestKind(t, "request_frame")[0]
	body := v.Hex("body_hex")
	r, err := codec.DecodeKvStateRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	nameOff := 16 + 4
	kvOff := nameOff + len(r.StateName) + 4 + 4
	if unsafe.SliceData(r.StateName) != &body[nameOff] || unsafe.SliceData(r.KeyAndNamespace) != &body[kvOff] {
		t.Errorf("KvStateRequest fields are not views into the body")
	}
	ib := frameTestKind(t, "internal_request_frame")[0].Hex("body_hex")
	ir, err := codec.DecodeKvStateInternalRequest(ib)
	if err != nil || unsafe.SliceData(ir.KeyAndNamespace) != &ib[20] {
		t.Errorf("KvStateInternalRequest key is not a view into the body (%v)", err)
	}
	rb := frameTestKind(t, "response_frame")[0].Hex("body_hex")
	c, err := codec.DecodeKvStateResponse(rb)
	if err != nil || unsafe.SliceData(c) != &rb[4] {
		t.Errorf("KvStateResponse content is not a view into the body (%v)", err)
	}
	// Append* copy their inputs: changing the input after encoding leaves
	// the encoded bytes alone.
	enc := codec.AppendKvStateRequest(nil, r)
	saved := append([]byte{}, enc...)
	r.StateName[0] ^= 0xff
	r.KeyAndNamespace[0] ^= 0xff
	if !bytes.Equal(enc, saved) {
		t.Errorf("encoded body changed with its input")
	}
}
