package codec_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/internal/vectors"
)

// frameTestKind returns the golden vectors of one kind; a missing vectors
// file or an empty kind fails the test.
func frameTestKind(t testing.TB, kind string) []vectors.Vector {
	t.Helper()
	vs, err := vectors.Kind(kind)
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// frameTestHex decodes hex that may contain spaces and newlines.
func frameTestHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}

// frameTestID16 decodes a 32-char hex id into 16 bytes.
func frameTestID16(t testing.TB, b []byte) [16]byte {
	t.Helper()
	var id [16]byte
	if len(b) != 16 {
		t.Fatalf("id of %d bytes, want 16", len(b))
	}
	copy(id[:], b)
	return id
}

// frameTestGolden is one golden frame: its bytes and what decoding must give.
type frameTestGolden struct {
	name string
	raw  []byte
	typ  codec.MessageType
	id   int64
	body []byte
}

// frameTestGoldenFrames collects every well-formed frame of the golden
// vectors: the encoder outputs of Flink's MessageSerializer and the frames
// of the live exchanges (requests that Flink answered as requests, and every
// response).
func frameTestGoldenFrames(t testing.TB) []frameTestGolden {
	t.Helper()
	var out []frameTestGolden
	add := func(v vectors.Vector, raw []byte, typ codec.MessageType, id int64, body []byte) {
		out = append(out, frameTestGolden{name: v.Kind + "/" + v.Name, raw: raw, typ: typ, id: id, body: body})
	}
	for _, v := range frameTestKind(t, "request_frame") {
		add(v, v.Hex("frame_hex"), codec.Request, v.Int("request_id"), v.Hex("body_hex"))
	}
	for _, v := range frameTestKind(t, "internal_request_frame") {
		add(v, v.Hex("frame_hex"), codec.Request, v.Int("request_id"), v.Hex("body_hex"))
	}
	for _, v := range frameTestKind(t, "response_frame") {
		add(v, v.Hex("frame_hex"), codec.RequestResult, v.Int("request_id"), v.Hex("body_hex"))
	}
	for _, v := range frameTestKind(t, "request_failure_frame") {
		add(v, v.Hex("frame_hex"), codec.RequestFailure, v.Int("request_id"), v.Hex("payload_hex"))
	}
	for _, v := range frameTestKind(t, "server_failure_frame") {
		add(v, v.Hex("frame_hex"), codec.ServerFailure, 0, v.Hex("payload_hex"))
	}
	for _, v := range frameTestKind(t, "exchange") {
		raw := v.Hex("response_frame_hex")
		var id int64
		if v.Has("request_id") {
			id = v.Int("request_id")
		}
		typ := frameTestTypeByName(t, v.Str("response_type"))
		off := codec.LengthLen + codec.HeaderLen
		if typ.HasRequestID() {
			off += codec.RequestIDLen
		}
		add(v, raw, typ, id, raw[off:])
	}
	return out
}

// frameTestTypeByName maps Flink's MessageType name (as the meta vector
// lists them) to our type.
func frameTestTypeByName(t testing.TB, name string) codec.MessageType {
	t.Helper()
	for _, typ := range []codec.MessageType{codec.Request, codec.RequestResult, codec.RequestFailure, codec.ServerFailure} {
		if typ.String() == name {
			return typ
		}
	}
	t.Fatalf("no message type named %q", name)
	return 0
}

// frameTestCheck compares a decoded frame with a golden one.
func frameTestCheck(t testing.TB, g frameTestGolden, f codec.Frame, n int, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: DecodeFrame: %v", g.name, err)
	}
	if n != len(g.raw) {
		t.Fatalf("%s: n = %d, want %d", g.name, n, len(g.raw))
	}
	if f.Type != g.typ || f.RequestID != g.id || !bytes.Equal(f.Body, g.body) {
		t.Fatalf("%s: decoded type %s id %d body %x..., want type %s id %d body %x...",
			g.name, f.Type, f.RequestID, frameTestHead(f.Body), g.typ, g.id, frameTestHead(g.body))
	}
}

func frameTestHead(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}

func TestMetaVector(t *testing.T) {
	m := frameTestKind(t, "meta")[0]
	if got := m.Int("protocol_version"); got != int64(codec.Version) {
		t.Errorf("Version = %d, Flink's is %d", codec.Version, got)
	}
	var types map[string]int32
	m.Decode("message_types", &types)
	if len(types) != 4 {
		t.Fatalf("meta lists %d message types, want 4", len(types))
	}
	for name, ord := range types {
		typ := codec.MessageType(ord)
		if typ.String() != name || !typ.Valid() {
			t.Errorf("MessageType(%d) = %q valid=%v, Flink's name is %q", ord, typ.String(), typ.Valid(), name)
		}
		if typ.HasRequestID() != (name != "SERVER_FAILURE") {
			t.Errorf("%s.HasRequestID() = %v", name, typ.HasRequestID())
		}
	}
	for _, bad := range []codec.MessageType{-1, 4, 1 << 30} {
		if bad.Valid() || !strings.HasPrefix(bad.String(), "MessageType(") {
			t.Errorf("MessageType(%d): Valid %v, String %q", int32(bad), bad.Valid(), bad.String())
		}
	}
}

// frameTestBytes fails t when an encoder (named what) wrote got where the
// vector has want.
func frameTestBytes(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got %x\nwant %x", what, frameTestHead(got), frameTestHead(want))
	}
}

// frameTestSize fails t when a size function (named what) says got where
// the vector's bytes are want long.
func frameTestSize(t testing.TB, what string, got, want int) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %d, want %d", what, got, want)
	}
}

// frameTestDecodeGolden checks g's length prefix against the vector's
// frame_length, decodes g.raw and compares the frame with g; it returns
// the frame.
func frameTestDecodeGolden(t testing.TB, v vectors.Vector, g frameTestGolden) codec.Frame {
	t.Helper()
	if ln, ok := codec.FrameLength(g.raw); !ok || int64(ln) != v.Int("frame_length") || int(ln) != len(g.raw)-codec.LengthLen {
		t.Errorf("FrameLength = %d, %v; vector says %d, frame is %d bytes", ln, ok, v.Int("frame_length"), len(g.raw))
	}
	f, n, err := codec.DecodeFrame(g.raw, 0)
	frameTestCheck(t, g, f, n, err)
	return f
}

// TestGoldenRequestFrames: our encoders write Flink's KvStateRequest frames
// byte for byte (I2), and the decoders read back every field.
func TestGoldenRequestFrames(t *testing.T) {
	for _, v := range frameTestKind(t, "request_frame") {
		t.Run(v.Name, func(t *testing.T) {
			r := codec.KvStateRequest{
				JobID:           frameTestID16(t, v.Hex("job_id_hex")),
				StateName:       v.Hex("state_name_utf8_hex"),
				KeyHash:         int32(v.Int("key_hash")),
				KeyAndNamespace: v.Hex("key_and_namespace_hex"),
			}
			if string(r.StateName) != v.Str("state_name") {
				t.Fatalf("vector: state_name_utf8_hex is not the UTF-8 of state_name")
			}
			id := v.Int("request_id")
			wantBody, wantFrame := v.Hex("body_hex"), v.Hex("frame_hex")

			frameTestBytes(t, "AppendKvStateRequest", codec.AppendKvStateRequest(nil, r), wantBody)
			frameTestSize(t, "KvStateRequestSize", codec.KvStateRequestSize(r), len(wantBody))
			prefix := []byte("xyz")
			got := codec.AppendKvStateRequestFrame(prefix[:3:3], id, r)
			if !bytes.Equal(got[:3], prefix) || !bytes.Equal(got[3:], wantFrame) {
				t.Errorf("AppendKvStateRequestFrame:\n got %x\nwant 78797a%x", got, wantFrame)
			}
			frameTestSize(t, "KvStateRequestFrameSize", codec.KvStateRequestFrameSize(r), len(wantFrame))

			f := frameTestDecodeGolden(t, v, frameTestGolden{name: v.Name, raw: wantFrame, typ: codec.Request, id: id, body: wantBody})
			dr, err := codec.DecodeKvStateRequest(f.Body)
			if err != nil {
				t.Fatalf("DecodeKvStateRequest: %v", err)
			}
			if dr.JobID != r.JobID || !bytes.Equal(dr.StateName, r.StateName) || dr.KeyHash != r.KeyHash ||
				!bytes.Equal(dr.KeyAndNamespace, r.KeyAndNamespace) {
				t.Errorf("decoded %+v, want %+v", dr, r)
			}
			fc, err := codec.DecodeFrameContent(wantFrame[codec.LengthLen:])
			if err != nil || fc.Type != f.Type || fc.RequestID != f.RequestID || !bytes.Equal(fc.Body, f.Body) {
				t.Errorf("DecodeFrameContent = %+v, %v; DecodeFrame gave %+v", fc, err, f)
			}
		})
	}
}

// TestGoldenInternalRequestFrames: as above for KvStateInternalRequest.
func TestGoldenInternalRequestFrames(t *testing.T) {
	for _, v := range frameTestKind(t, "internal_request_frame") {
		t.Run(v.Name, func(t *testing.T) {
			r := codec.KvStateInternalRequest{
				KvStateID:       frameTestID16(t, v.Hex("kv_state_id_hex")),
				KeyAndNamespace: v.Hex("key_and_namespace_hex"),
			}
			id := v.Int("request_id")
			wantBody, wantFrame := v.Hex("body_hex"), v.Hex("frame_hex")
			frameTestBytes(t, "AppendKvStateInternalRequest", codec.AppendKvStateInternalRequest(nil, r), wantBody)
			frameTestSize(t, "KvStateInternalRequestSize", codec.KvStateInternalRequestSize(r), len(wantBody))
			frameTestBytes(t, "AppendKvStateInternalRequestFrame", codec.AppendKvStateInternalRequestFrame(nil, id, r), wantFrame)
			frameTestSize(t, "KvStateInternalRequestFrameSize", codec.KvStateInternalRequestFrameSize(r), len(wantFrame))
			f := frameTestDecodeGolden(t, v, frameTestGolden{name: v.Name, raw: wantFrame, typ: codec.Request, id: id, body: wantBody})
			dr, err := codec.DecodeKvStateInternalRequest(f.Body)
			if err != nil {
				t.Fatalf("DecodeKvStateInternalRequest: %v", err)
			}
			if dr.KvStateID != r.KvStateID || !bytes.Equal(dr.KeyAndNamespace, r.KeyAndNamespace) {
				t.Errorf("decoded %+v, want %+v", dr, r)
			}
		})
	}
}

// TestGoldenResponseFrames: REQUEST_RESULT frames, including one over 32 KiB.
func TestGoldenResponseFrames(t *testing.T) {
	for _, v := range frameTestKind(t, "response_frame") {
		t.Run(v.Name, func(t *testing.T) {
			id := v.Int("request_id")
			content, wantBody, wantFrame := v.Hex("content_hex"), v.Hex("body_hex"), v.Hex("frame_hex")
			frameTestBytes(t, "AppendKvStateResponse", codec.AppendKvStateResponse(nil, content), wantBody)
			frameTestSize(t, "KvStateResponseSize", codec.KvStateResponseSize(len(content)), len(wantBody))
			frameTestBytes(t, "AppendResultFrame", codec.AppendResultFrame(nil, id, content), wantFrame)
			// AppendHeader + AppendKvStateResponse is the same frame.
			got := codec.AppendHeader(nil, codec.RequestResult, id, len(wantBody))
			frameTestBytes(t, "AppendHeader+AppendKvStateResponse", codec.AppendKvStateResponse(got, content), wantFrame)
			frameTestSize(t, "ResultFrameSize", codec.ResultFrameSize(len(content)), len(wantFrame))
			frameTestSize(t, "FrameSize", codec.FrameSize(codec.RequestResult, len(wantBody)), len(wantFrame))
			f := frameTestDecodeGolden(t, v, frameTestGolden{name: v.Name, raw: wantFrame, typ: codec.RequestResult, id: id, body: wantBody})
			c, err := codec.DecodeKvStateResponse(f.Body)
			if err != nil || !bytes.Equal(c, content) {
				t.Errorf("DecodeKvStateResponse = %x, %v; want %x", frameTestHead(c), err, frameTestHead(content))
			}
		})
	}
}

// TestGoldenFailureFrames: REQUEST_FAILURE and SERVER_FAILURE frames around
// Flink's own serialized Throwables.
func TestGoldenFailureFrames(t *testing.T) {
	for _, v := range frameTestKind(t, "request_failure_frame") {
		t.Run(v.Name, func(t *testing.T) {
			id := v.Int("request_id")
			payload, wantFrame := v.Hex("payload_hex"), v.Hex("frame_hex")
			frameTestBytes(t, "AppendRequestFailureFrame", codec.AppendRequestFailureFrame(nil, id, payload), wantFrame)
			frameTestSize(t, "RequestFailureFrameSize", codec.RequestFailureFrameSize(len(payload)), len(wantFrame))
			frameTestDecodeGolden(t, v, frameTestGolden{name: v.Name, raw: wantFrame, typ: codec.RequestFailure, id: id, body: payload})
		})
	}
	for _, v := range frameTestKind(t, "server_failure_frame") {
		t.Run(v.Name, func(t *testing.T) {
			if v.Has("request_id") {
				t.Fatalf("vector: SERVER_FAILURE with a request id")
			}
			payload, wantFrame := v.Hex("payload_hex"), v.Hex("frame_hex")
			frameTestBytes(t, "AppendServerFailureFrame", codec.AppendServerFailureFrame(nil, payload), wantFrame)
			// The request id argument of AppendHeader is ignored for SERVER_FAILURE.
			got := append(codec.AppendHeader(nil, codec.ServerFailure, 12345, len(payload)), payload...)
			frameTestBytes(t, "AppendHeader(ServerFailure, id 12345)", got, wantFrame)
			frameTestSize(t, "ServerFailureFrameSize", codec.ServerFailureFrameSize(len(payload)), len(wantFrame))
			frameTestDecodeGolden(t, v, frameTestGolden{name: v.Name, raw: wantFrame, typ: codec.ServerFailure, body: payload})
		})
	}
}

// TestGoldenExchanges: the bytes of live exchanges with Flink's servers.
// Every response decodes as one frame of the stated type and id (content as
// stated; REQUEST_RESULT frames equal what AppendResultFrame writes). Every
// request decodes as a REQUEST with a KvStateRequest body carrying the
// response's id, except the deliberately broken ones listed here.
func TestGoldenExchanges(t *testing.T) {
	broken := map[string]struct {
		err  error             // the sentinel DecodeFrame must report, or
		typ  codec.MessageType // the type it must decode as (when err is nil)
		id   int64
		seen bool
	}{
		"proxy/bad-version":        {err: codec.ErrBadVersion},
		"proxy/huge-frame-length":  {err: codec.ErrNegativeLength},
		"proxy/wrong-message-type": {typ: codec.RequestResult, id: 0x14},
	}
	for _, v := range frameTestKind(t, "exchange") {
		t.Run(v.Name, func(t *testing.T) {
			resp := v.Hex("response_frame_hex")
			f, n, err := codec.DecodeFrame(resp, 0)
			if err != nil || n != len(resp) {
				t.Fatalf("response: n = %d of %d, err %v", n, len(resp), err)
			}
			if f.Type.String() != v.Str("response_type") {
				t.Errorf("response type %s, want %s", f.Type, v.Str("response_type"))
			}
			if v.Has("request_id") && f.RequestID != v.Int("request_id") {
				t.Errorf("response id %d, want %d", f.RequestID, v.Int("request_id"))
			}
			if f.Type == codec.ServerFailure && f.RequestID != 0 {
				t.Errorf("SERVER_FAILURE with id %d", f.RequestID)
			}
			if v.Has("content_hex") {
				content := v.Hex("content_hex")
				c, err := codec.DecodeKvStateResponse(f.Body)
				if err != nil || !bytes.Equal(c, content) {
					t.Errorf("content %x, %v; want %x", c, err, content)
				}
				if got := codec.AppendResultFrame(nil, f.RequestID, content); !bytes.Equal(got, resp) {
					t.Errorf("AppendResultFrame:\n got %x\nwant %x (Flink's live answer)", got, resp)
				}
			}

			req := v.Hex("request_frame_hex")
			rf, rn, err := codec.DecodeFrame(req, 0)
			if b, ok := broken[v.Name]; ok {
				b.seen = true
				broken[v.Name] = b
				if b.err != nil {
					if !errors.Is(err, b.err) || rn != 0 {
						t.Errorf("request: n = %d, err %v; want %v", rn, err, b.err)
					}
					return
				}
				if err != nil || rn != len(req) || rf.Type != b.typ || rf.RequestID != b.id {
					t.Errorf("request: %s id %d n %d err %v; want %s id %d", rf.Type, rf.RequestID, rn, err, b.typ, b.id)
				}
				return
			}
			if err != nil || rn != len(req) || rf.Type != codec.Request || rf.RequestID != v.Int("request_id") {
				t.Fatalf("request: %s id %d n %d of %d, err %v; want REQUEST id %d",
					rf.Type, rf.RequestID, rn, len(req), err, v.Int("request_id"))
			}
			r, err := codec.DecodeKvStateRequest(rf.Body)
			if err != nil {
				t.Fatalf("request body: %v", err)
			}
			if got := codec.AppendKvStateRequestFrame(nil, rf.RequestID, r); !bytes.Equal(got, req) {
				t.Errorf("re-encoded request:\n got %x\nwant %x", got, req)
			}
		})
	}
	for name, b := range broken {
		if !b.seen {
			t.Errorf("no exchange vector named %q", name)
		}
	}
}

// TestProtocolExamples: PROTOCOL.md section 3.4, examples (a) to (d).
func TestProtocolExamples(t *testing.T) {
	job := [16]byte{0x59, 0x06, 0xea, 0x8d, 0x89, 0x40, 0x84, 0x2f, 0x9e, 0x05, 0xae, 0xdd, 0xdc, 0x85, 0x17, 0xea}
	tests := []struct {
		name     string
		req      *codec.KvStateRequest
		internal *codec.KvStateInternalRequest
		content  []byte // REQUEST_RESULT content when req and internal are nil
		id       int64
		frame    string
	}{
		{name: "a/string-hello", id: 0, req: &codec.KvStateRequest{JobID: job, StateName: []byte("query-name"),
			KeyHash: 99162322, KeyAndNamespace: []byte{0x06, 'h', 'e', 'l', 'l', 'o', 0x2a, 0x00}},
			frame: `00 00 00 3e 79 a1 b7 10 00 00 00 00 00 00 00 00
				00 00 00 00 59 06 ea 8d 89 40 84 2f 9e 05 ae dd
				dc 85 17 ea 00 00 00 0a 71 75 65 72 79 2d 6e 61
				6d 65 05 e9 18 d2 00 00 00 08 06 68 65 6c 6c 6f
				2a 00`},
		{name: "b/long-1", id: 7, req: &codec.KvStateRequest{JobID: job, StateName: []byte("query-name"),
			KeyHash: 1, KeyAndNamespace: []byte{0, 0, 0, 0, 0, 0, 0, 1, 0x2a, 0x00}},
			frame: `00 00 00 40 79 a1 b7 10 00 00 00 00 00 00 00 00
				00 00 00 07 59 06 ea 8d 89 40 84 2f 9e 05 ae dd
				dc 85 17 ea 00 00 00 0a 71 75 65 72 79 2d 6e 61
				6d 65 00 00 00 01 00 00 00 0a 00 00 00 00 00 00
				00 01 2a 00`},
		{name: "c/internal-hello", id: 3, internal: &codec.KvStateInternalRequest{
			KvStateID:       [16]byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff},
			KeyAndNamespace: []byte{0x06, 'h', 'e', 'l', 'l', 'o', 0x2a, 0x00}},
			frame: `00 00 00 2c 79 a1 b7 10 00 00 00 00 00 00 00 00
				00 00 00 03 00 11 22 33 44 55 66 77 88 99 aa bb
				cc dd ee ff 00 00 00 08 06 68 65 6c 6c 6f 2a 00`},
		{name: "d/result-long-42", id: 0, content: []byte{0, 0, 0, 0, 0, 0, 0, 42},
			frame: `00 00 00 1c 79 a1 b7 10 00 00 00 01 00 00 00 00
				00 00 00 00 00 00 00 08 00 00 00 00 00 00 00 2a`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := frameTestHex(t, tc.frame)
			var got []byte
			switch {
			case tc.req != nil:
				got = codec.AppendKvStateRequestFrame(nil, tc.id, *tc.req)
			case tc.internal != nil:
				got = codec.AppendKvStateInternalRequestFrame(nil, tc.id, *tc.internal)
			default:
				got = codec.AppendResultFrame(nil, tc.id, tc.content)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("encoded\n got %x\nwant %x", got, want)
			}
			f, n, err := codec.DecodeFrame(want, 0)
			if err != nil || n != len(want) || f.RequestID != tc.id {
				t.Fatalf("DecodeFrame: id %d n %d err %v", f.RequestID, n, err)
			}
			switch {
			case tc.req != nil:
				r, err := codec.DecodeKvStateRequest(f.Body)
				if err != nil || f.Type != codec.Request || r.JobID != tc.req.JobID || string(r.StateName) != string(tc.req.StateName) ||
					r.KeyHash != tc.req.KeyHash || !bytes.Equal(r.KeyAndNamespace, tc.req.KeyAndNamespace) {
					t.Errorf("decoded %s %+v, %v", f.Type, r, err)
				}
			case tc.internal != nil:
				r, err := codec.DecodeKvStateInternalRequest(f.Body)
				if err != nil || f.Type != codec.Request || r.KvStateID != tc.internal.KvStateID ||
					!bytes.Equal(r.KeyAndNamespace, tc.internal.KeyAndNamespace) {
					t.Errorf("decoded %s %+v, %v", f.Type, r, err)
				}
			default:
				c, err := codec.DecodeKvStateResponse(f.Body)
				if err != nil || f.Type != codec.RequestResult || !bytes.Equal(c, tc.content) {
					t.Errorf("decoded %s %x, %v", f.Type, c, err)
				}
			}
		})
	}
}

// TestDecodeFrameSplitAtEveryOffset: every strict prefix of a golden frame
// is incomplete (n == 0, nil error, nothing decoded); the whole frame, alone
// or followed by more bytes, decodes. Prefixes are cut with cap == len so a
// read past the input panics.
func TestDecodeFrameSplitAtEveryOffset(t *testing.T) {
	next := []byte{0x00, 0x00, 0x00, 0x10, 0x79} // the start of another frame
	for _, g := range frameTestGoldenFrames(t) {
		for k := 0; k < len(g.raw); k++ {
			f, n, err := codec.DecodeFrame(g.raw[:k:k], 0)
			if n != 0 || err != nil || f.Type != 0 || f.RequestID != 0 || f.Body != nil {
				t.Fatalf("%s: prefix of %d/%d bytes: %+v n %d err %v; want incomplete", g.name, k, len(g.raw), f, n, err)
			}
		}
		f, n, err := codec.DecodeFrame(g.raw[:len(g.raw):len(g.raw)], 0)
		frameTestCheck(t, g, f, n, err)
		f, n, err = codec.DecodeFrame(append(append([]byte{}, g.raw...), next...), 0)
		frameTestCheck(t, g, f, n, err)
	}
}

// TestDecodeFramePipelined: all golden frames back to back in one buffer,
// then the same stream delivered in random-sized reads to a buffer that a
// redcon-style loop decodes and compacts.
func TestDecodeFramePipelined(t *testing.T) {
	golden := frameTestGoldenFrames(t)
	rng := rand.New(rand.NewPCG(1, 2))
	var seq []frameTestGolden
	var stream []byte
	for range 4 {
		for _, i := range rng.Perm(len(golden)) {
			seq = append(seq, golden[i])
			stream = append(stream, golden[i].raw...)
		}
	}

	off := 0
	for i, g := range seq {
		f, n, err := codec.DecodeFrame(stream[off:], 0)
		frameTestCheck(t, g, f, n, err)
		off += n
		if i == len(seq)-1 && off != len(stream) {
			t.Fatalf("%d bytes left after the last frame", len(stream)-off)
		}
	}

	for round := range 20 {
		var buf []byte
		got := 0
		for pos := 0; pos < len(stream); {
			// Mostly small reads, sometimes a large one, as TCP delivers.
			size := 1 + rng.IntN(64)
			if rng.IntN(8) == 0 {
				size = 1 + rng.IntN(64<<10)
			}
			size = min(size, len(stream)-pos)
			buf = append(buf, stream[pos:pos+size]...)
			pos += size
			for {
				f, n, err := codec.DecodeFrame(buf, 0)
				if err != nil {
					t.Fatalf("round %d frame %d: %v", round, got, err)
				}
				if n == 0 {
					break
				}
				frameTestCheck(t, seq[got], f, n, err)
				got++
				buf = buf[:copy(buf, buf[n:])]
			}
		}
		if got != len(seq) || len(buf) != 0 {
			t.Fatalf("round %d: %d of %d frames, %d bytes left", round, got, len(seq), len(buf))
		}
	}
}

// frameTestExpectBad asserts that DecodeFrame reports sentinel for the hex
// input, with nothing decoded.
func frameTestExpectBad(t *testing.T, in string, maxLen int, sentinel error) {
	t.Helper()
	b := frameTestHex(t, in)
	f, n, err := codec.DecodeFrame(b[:len(b):len(b)], maxLen)
	if !errors.Is(err, sentinel) || n != 0 || f.Body != nil {
		t.Errorf("DecodeFrame(%s, %d) = %+v, %d, %v; want %v", in, maxLen, f, n, err, sentinel)
	}
}

// frameTestExpectIncomplete asserts that DecodeFrame waits for more bytes.
func frameTestExpectIncomplete(t *testing.T, in string, maxLen int) {
	t.Helper()
	b := frameTestHex(t, in)
	f, n, err := codec.DecodeFrame(b[:len(b):len(b)], maxLen)
	if err != nil || n != 0 || f.Body != nil {
		t.Errorf("DecodeFrame(%s, %d) = %+v, %d, %v; want incomplete", in, maxLen, f, n, err)
	}
}

// frameTestExpectGood asserts that DecodeFrame decodes the hex input's
// first frame as typ/id/body, taking n bytes.
func frameTestExpectGood(t *testing.T, in string, maxLen int, typ codec.MessageType, id int64, body string, n int) {
	t.Helper()
	b := frameTestHex(t, in)
	wantBody := frameTestHex(t, body)
	f, gn, err := codec.DecodeFrame(b[:len(b):len(b)], maxLen)
	if err != nil || gn != n || f.Type != typ || f.RequestID != id || !bytes.Equal(f.Body, wantBody) {
		t.Errorf("DecodeFrame(%s, %d) = %+v, %d, %v; want %s id %d body %x n %d", in, maxLen, f, gn, err, typ, id, wantBody, n)
	}
}

func TestDecodeFrameErrors(t *testing.T) {
	// Length prefix: reported after its 4 bytes.
	frameTestExpectBad(t, "ffffffff", 0, codec.ErrNegativeLength)
	frameTestExpectBad(t, "80000000", 0, codec.ErrNegativeLength)
	frameTestExpectBad(t, "fffffffb", 0, codec.ErrNegativeLength) // the exchange "proxy/huge-frame-length"
	frameTestExpectBad(t, "00000000", 0, codec.ErrFrameTooShort)
	frameTestExpectBad(t, "00000007 79a1b710 000000", 0, codec.ErrFrameTooShort)
	frameTestExpectBad(t, "00400001", 0, codec.ErrFrameTooLarge) // 4 MiB + 1 over the default limit
	frameTestExpectBad(t, "7fffffff", 0, codec.ErrFrameTooLarge)
	frameTestExpectBad(t, "00000065", 100, codec.ErrFrameTooLarge)
	frameTestExpectBad(t, "00000011 79a1b710 00000000 0000000000000001 00", 16, codec.ErrFrameTooLarge)
	frameTestExpectIncomplete(t, "00400000", 0) // exactly 4 MiB is allowed
	frameTestExpectIncomplete(t, "00000064", 100)
	frameTestExpectIncomplete(t, "000000", 0)
	frameTestExpectIncomplete(t, "", 0)

	// Version: reported after 8 bytes, whatever the declared length.
	frameTestExpectBad(t, "00001000 00000001", 0, codec.ErrBadVersion)
	frameTestExpectBad(t, "00001000 79a1b711 00000000", 0, codec.ErrBadVersion)
	frameTestExpectBad(t, "00000010 10b7a179 00000000 0000000000000001", 0, codec.ErrBadVersion)
	frameTestExpectIncomplete(t, "00001000 79a1b7", 0)

	// Message type: reported after 12 bytes.
	frameTestExpectBad(t, "00001000 79a1b710 00000004", 0, codec.ErrUnknownMessageType)
	frameTestExpectBad(t, "00001000 79a1b710 ffffffff", 0, codec.ErrUnknownMessageType)
	frameTestExpectBad(t, "00001000 79a1b710 80000000", 0, codec.ErrUnknownMessageType)
	frameTestExpectBad(t, "00000010 79a1b710 00000004 0000000000000001", 0, codec.ErrUnknownMessageType)
	frameTestExpectIncomplete(t, "00001000 79a1b710 000000", 0)
	frameTestExpectIncomplete(t, "00001000 79a1b710 00000000", 0)

	// Too short for the request id: reported after 12 bytes.
	frameTestExpectBad(t, "00000008 79a1b710 00000000", 0, codec.ErrFrameTooShort)
	frameTestExpectBad(t, "0000000f 79a1b710 00000000", 0, codec.ErrFrameTooShort)
	frameTestExpectBad(t, "0000000f 79a1b710 00000001 00000000000000", 0, codec.ErrFrameTooShort)
	frameTestExpectBad(t, "0000000c 79a1b710 00000002 00000000", 0, codec.ErrFrameTooShort)

	// Smallest valid frames of each type.
	frameTestExpectGood(t, "00000010 79a1b710 00000000 0000000000000009", 0, codec.Request, 9, "", 20)
	frameTestExpectGood(t, "00000010 79a1b710 00000001 ffffffffffffffff 00", 16, codec.RequestResult, -1, "", 20)
	frameTestExpectGood(t, "00000011 79a1b710 00000002 7fffffffffffffff 2a", 17, codec.RequestFailure, 1<<63-1, "2a", 21)
	frameTestExpectGood(t, "00000008 79a1b710 00000003", 0, codec.ServerFailure, 0, "", 12)
	frameTestExpectGood(t, "00000009 79a1b710 00000003 aced", 0, codec.ServerFailure, 0, "ac", 13)
}

func TestDecodeFrameContentErrors(t *testing.T) {
	tests := []struct {
		name, in string
		err      error
	}{
		{"empty", "", codec.ErrFrameTooShort},
		{"seven bytes", "79a1b710 000000", codec.ErrFrameTooShort},
		{"bad version", "79a1b711 00000000 0000000000000001", codec.ErrBadVersion},
		{"type 4", "79a1b710 00000004 0000000000000001", codec.ErrUnknownMessageType},
		{"type -1", "79a1b710 ffffffff 0000000000000001", codec.ErrUnknownMessageType},
		{"request without id", "79a1b710 00000000 00000000000000", codec.ErrFrameTooShort},
		{"result without id", "79a1b710 00000001", codec.ErrFrameTooShort},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := frameTestHex(t, tc.in)
			if _, err := codec.DecodeFrameContent(b[:len(b):len(b)]); !errors.Is(err, tc.err) {
				t.Errorf("DecodeFrameContent(%s) error %v, want %v", tc.in, err, tc.err)
			}
		})
	}
	f, err := codec.DecodeFrameContent(frameTestHex(t, "79a1b710 00000003"))
	if err != nil || f.Type != codec.ServerFailure || len(f.Body) != 0 {
		t.Errorf("empty SERVER_FAILURE: %+v, %v", f, err)
	}
}

// TestCheckFrameLength: the limit defaults to 4 MiB and is a parameter.
func TestCheckFrameLength(t *testing.T) {
	if codec.DefaultMaxFrameLen != 4<<20 {
		t.Errorf("DefaultMaxFrameLen = %d, want 4 MiB", codec.DefaultMaxFrameLen)
	}
	tests := []struct {
		n      int32
		maxLen int
		err    error
	}{
		{4 << 20, 0, nil},
		{4<<20 + 1, 0, codec.ErrFrameTooLarge},
		{4<<20 + 1, -1, codec.ErrFrameTooLarge},
		{4<<20 + 1, 32 << 20, nil},
		{1 << 30, 1<<31 - 1, nil},
		{1<<31 - 1, 1 << 40, nil},
		{100, 99, codec.ErrFrameTooLarge},
		{100, 100, nil},
		{8, 8, nil},
		{7, 8, codec.ErrFrameTooShort},
		{0, 0, codec.ErrFrameTooShort},
		{-1, 0, codec.ErrNegativeLength},
		{-1 << 31, 1 << 40, codec.ErrNegativeLength},
	}
	for _, tc := range tests {
		if err := codec.CheckFrameLength(tc.n, tc.maxLen); !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("CheckFrameLength(%d, %d) = %v, want %v", tc.n, tc.maxLen, err, tc.err)
		}
	}
	if _, ok := codec.FrameLength([]byte{0, 0, 1}); ok {
		t.Errorf("FrameLength of 3 bytes is ok")
	}
	if n, ok := codec.FrameLength([]byte{0xff, 0xff, 0xff, 0xfe, 9}); !ok || n != -2 {
		t.Errorf("FrameLength(fffffffe) = %d, %v", n, ok)
	}
}

// TestFrameSizes: MinFrameLen and FrameSize agree with the header layout.
func TestFrameSizes(t *testing.T) {
	for _, tc := range []struct {
		typ      codec.MessageType
		min, two int
	}{
		{codec.Request, 16, 22}, {codec.RequestResult, 16, 22}, {codec.RequestFailure, 16, 22}, {codec.ServerFailure, 8, 14},
	} {
		if got := codec.MinFrameLen(tc.typ); got != tc.min {
			t.Errorf("MinFrameLen(%s) = %d, want %d", tc.typ, got, tc.min)
		}
		if got := codec.FrameSize(tc.typ, 2); got != tc.two {
			t.Errorf("FrameSize(%s, 2) = %d, want %d", tc.typ, got, tc.two)
		}
		h := codec.AppendHeader(nil, tc.typ, 5, 2)
		if len(h) != tc.two-2 || int(binary.BigEndian.Uint32(h)) != tc.two-codec.LengthLen {
			t.Errorf("AppendHeader(%s, body 2) = %x", tc.typ, h)
		}
	}
}
