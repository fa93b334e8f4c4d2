//go:build !race

package codec_test

import (
	"testing"

	"github.com/qstate/qstate/codec"
)

// TestFrameHotPathAllocs: the per-request decode and encode paths allocate
// nothing (I1 for DecodeFrame; the body decoders and Append* into a buffer
// of the size the *Size functions give).
func TestFrameHotPathAllocs(t *testing.T) {
	frame := frameBenchRequestFrame(t)
	payload := frameBenchFailurePayload(t)
	content8, content1k := make([]byte, 8), make([]byte, 1024)
	internal := frameTestKind(t, "internal_request_frame")[0].Hex("frame_hex")
	response := frameTestKind(t, "response_frame")[0].Hex("frame_hex")
	buf := make([]byte, 0, 4096)

	tests := []struct {
		name string
		fn   func()
	}{
		{"DecodeFrame+DecodeKvStateRequest", func() {
			if _, n, err := frameBenchDecodeRequest(frame); err != nil || n != len(frame) {
				t.Fatal(n, err)
			}
		}},
		{"DecodeFrame incomplete", func() {
			if _, n, err := codec.DecodeFrame(frame[:len(frame)-1], 0); err != nil || n != 0 {
				t.Fatal(n, err)
			}
		}},
		{"DecodeFrame+DecodeKvStateInternalRequest", func() {
			f, _, err := codec.DecodeFrame(internal, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := codec.DecodeKvStateInternalRequest(f.Body); err != nil {
				t.Fatal(err)
			}
		}},
		{"DecodeFrame+DecodeKvStateResponse", func() {
			f, _, err := codec.DecodeFrame(response, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := codec.DecodeKvStateResponse(f.Body); err != nil {
				t.Fatal(err)
			}
		}},
		{"AppendResultFrame 8B", func() { buf = codec.AppendResultFrame(buf[:0], 7, content8) }},
		{"AppendResultFrame 1KiB", func() { buf = codec.AppendResultFrame(buf[:0], 7, content1k) }},
		{"AppendRequestFailureFrame cached payload", func() { buf = codec.AppendRequestFailureFrame(buf[:0], 7, payload) }},
		{"AppendServerFailureFrame cached payload", func() { buf = codec.AppendServerFailureFrame(buf[:0], payload) }},
	}
	for _, tc := range tests {
		if got := testing.AllocsPerRun(1000, tc.fn); got != 0 {
			t.Errorf("%s: %v allocs per run, want 0", tc.name, got)
		}
	}
}
