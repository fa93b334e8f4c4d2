package codec_test

import (
	"strconv"
	"testing"

	"github.com/qstate/qstate/codec"
)

// The hot paths measured here (and held to zero allocations by
// frame_alloc_test.go):
//
//	go test ./codec -run '^$' -bench . -benchmem

// frameBenchRequestFrame is a golden KvStateRequest frame (int key, void namespace).
func frameBenchRequestFrame(tb testing.TB) []byte {
	return frameTestKind(tb, "request_frame")[0].Hex("frame_hex")
}

// frameBenchFailurePayload is Flink's UnknownKeyOrNamespaceException payload,
// what a server caches and sends for every missing key.
func frameBenchFailurePayload(tb testing.TB) []byte {
	tb.Helper()
	for _, v := range frameTestKind(tb, "request_failure_frame") {
		if v.Str("exception_class") == "org.apache.flink.queryablestate.exceptions.UnknownKeyOrNamespaceException" &&
			v.Str("stack") == "empty" {
			return v.Hex("payload_hex")
		}
	}
	tb.Fatal("no UnknownKeyOrNamespaceException request_failure_frame vector with an empty stack")
	return nil
}

// frameBenchDecodeRequest is the server's per-request decode.
func frameBenchDecodeRequest(b []byte) (codec.KvStateRequest, int, error) {
	f, n, err := codec.DecodeFrame(b, 0)
	if err != nil || n == 0 {
		return codec.KvStateRequest{}, n, err
	}
	r, err := codec.DecodeKvStateRequest(f.Body)
	return r, n, err
}

var frameBenchSink int

// benchAppendFrame measures appendFrame, which appends one frame of size
// bytes with request id id to buf, into a buffer reused across ops.
func benchAppendFrame(b *testing.B, size int, appendFrame func(buf []byte, id int64) []byte) {
	buf := make([]byte, 0, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	id := int64(0)
	for b.Loop() {
		buf = appendFrame(buf[:0], id)
		id++
	}
	frameBenchSink += len(buf)
}

func BenchmarkDecodeKvStateRequestFrame(b *testing.B) {
	frame := frameBenchRequestFrame(b)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		f, n, err := codec.DecodeFrame(frame, 0)
		if err != nil || n != len(frame) {
			b.Fatal(n, err)
		}
		r, err := codec.DecodeKvStateRequest(f.Body)
		if err != nil {
			b.Fatal(err)
		}
		frameBenchSink += int(r.KeyHash)
	}
}

func BenchmarkAppendResultFrame(b *testing.B) {
	for _, size := range []int{8, 1024} {
		b.Run(frameBenchSizeName(size), func(b *testing.B) {
			content := make([]byte, size)
			benchAppendFrame(b, codec.ResultFrameSize(size), func(buf []byte, id int64) []byte {
				return codec.AppendResultFrame(buf, id, content)
			})
		})
	}
}

func BenchmarkAppendRequestFailureFrame(b *testing.B) {
	payload := frameBenchFailurePayload(b)
	benchAppendFrame(b, codec.RequestFailureFrameSize(len(payload)), func(buf []byte, id int64) []byte {
		return codec.AppendRequestFailureFrame(buf, id, payload)
	})
}

// BenchmarkAppendKvStateRequestFrame is the client's per-request encode.
func BenchmarkAppendKvStateRequestFrame(b *testing.B) {
	f, _, err := codec.DecodeFrame(frameBenchRequestFrame(b), 0)
	if err != nil {
		b.Fatal(err)
	}
	r, err := codec.DecodeKvStateRequest(f.Body)
	if err != nil {
		b.Fatal(err)
	}
	benchAppendFrame(b, codec.KvStateRequestFrameSize(r), func(buf []byte, id int64) []byte {
		return codec.AppendKvStateRequestFrame(buf, id, r)
	})
}

func frameBenchSizeName(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return strconv.Itoa(n/1024) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}
