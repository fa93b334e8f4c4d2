package codec_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/qstate/qstate/codec"
)

// The seed corpus under testdata/fuzz/<FuzzName>/ is written from the golden
// vectors by
//
//	go test ./codec -run TestFrameFuzzCorpus -update-fuzz-corpus
//
// and checked against them by every plain `go test` run, which also replays
// it (with the f.Add seeds) through each fuzz target.
var frameUpdateFuzzCorpus = flag.Bool("update-fuzz-corpus", false, "rewrite codec/testdata/fuzz seeds from the golden vectors")

// frameFuzzCorpusMax bounds the size of an input written as a corpus file;
// larger seeds (the 40 KiB response) are only added with f.Add.
const frameFuzzCorpusMax = 2048

// frameFuzzSeed is one seed input of a fuzz target.
type frameFuzzSeed struct {
	name string
	args []any // []byte, then uint32 for FuzzDecodeFrame
}

// frameFuzzSeeds returns the seeds of each fuzz target, from the golden
// vectors and the hand-written broken frames of the error tables.
func frameFuzzSeeds(t testing.TB) map[string][]frameFuzzSeed {
	t.Helper()
	seeds := map[string][]frameFuzzSeed{}
	add := func(target, name string, args ...any) {
		seeds[target] = append(seeds[target], frameFuzzSeed{name: name, args: args})
	}
	for i, g := range frameTestGoldenFrames(t) {
		add("FuzzDecodeFrame", fmt.Sprintf("golden-%03d", i), g.raw, uint32(0))
	}
	// A frame followed by the start of the next, and tight or broken limits.
	rf := frameTestKind(t, "request_frame")[0].Hex("frame_hex")
	add("FuzzDecodeFrame", "pipelined", append(append([]byte{}, rf...), rf[:7]...), uint32(0))
	add("FuzzDecodeFrame", "limit-exact", rf, uint32(len(rf)-codec.LengthLen))
	add("FuzzDecodeFrame", "limit-under", rf, uint32(len(rf)-codec.LengthLen-1))
	for i, in := range []string{
		"ffffffff", "80000000", "00000007", "01000001",
		"00001000 00000001", "00001000 79a1b710 00000004", "00001000 79a1b710 ffffffff",
		"0000000f 79a1b710 00000000", "00000008 79a1b710 00000003",
	} {
		add("FuzzDecodeFrame", fmt.Sprintf("broken-%02d", i), frameTestHex(t, in), uint32(0))
	}
	for i, v := range frameTestKind(t, "request_frame") {
		add("FuzzDecodeKvStateRequest", fmt.Sprintf("golden-%03d", i), v.Hex("body_hex"))
	}
	for i, v := range frameTestKind(t, "exchange") {
		if f, _, err := codec.DecodeFrame(v.Hex("request_frame_hex"), 0); err == nil && f.Type == codec.Request {
			add("FuzzDecodeKvStateRequest", fmt.Sprintf("exchange-%03d", i), f.Body)
		}
	}
	for i, v := range frameTestKind(t, "internal_request_frame") {
		add("FuzzDecodeKvStateInternalRequest", fmt.Sprintf("golden-%03d", i), v.Hex("body_hex"))
	}
	for i, v := range frameTestKind(t, "response_frame") {
		add("FuzzDecodeKvStateResponse", fmt.Sprintf("golden-%03d", i), v.Hex("body_hex"))
	}
	return seeds
}

// frameFuzzCorpusFile renders a seed in Go's corpus file format.
func frameFuzzCorpusFile(s frameFuzzSeed) string {
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, a := range s.args {
		switch a := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", a)
		case uint32:
			fmt.Fprintf(&b, "uint32(%d)\n", a)
		default:
			panic(fmt.Sprintf("seed argument of type %T", a))
		}
	}
	return b.String()
}

// TestFrameFuzzCorpus checks that the corpus files hold the current seeds,
// or rewrites them with -update-fuzz-corpus. Other files (inputs a fuzzing
// run found and someone kept) are left alone.
func TestFrameFuzzCorpus(t *testing.T) {
	for target, seeds := range frameFuzzSeeds(t) {
		dir := filepath.Join("testdata", "fuzz", target)
		if *frameUpdateFuzzCorpus {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		written := 0
		for _, s := range seeds {
			if len(s.args[0].([]byte)) > frameFuzzCorpusMax {
				continue
			}
			written++
			path := filepath.Join(dir, "seed-"+s.name)
			want := frameFuzzCorpusFile(s)
			if *frameUpdateFuzzCorpus {
				if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != want {
				t.Errorf("%s is missing or stale (%v); run go test ./codec -run TestFrameFuzzCorpus -update-fuzz-corpus", path, err)
			}
		}
		if written == 0 {
			t.Errorf("%s: no seed written", target)
		}
	}
}

func frameFuzzAdd(f *testing.F, target string) {
	seeds := frameFuzzSeeds(f)[target]
	if len(seeds) == 0 {
		f.Fatalf("no seeds for %s", target)
	}
	for _, s := range seeds {
		f.Add(s.args...)
	}
}

// frameFuzzSentinel reports whether err wraps one of the decoders' sentinels (I3).
func frameFuzzSentinel(err error) bool {
	for _, s := range []error{codec.ErrBadVersion, codec.ErrUnknownMessageType, codec.ErrNegativeLength,
		codec.ErrFrameTooLarge, codec.ErrFrameTooShort, codec.ErrTruncated} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// frameFuzzView fails unless v is data[off:off+len(v)] itself (not a copy)
// with its capacity ending with it, so appending to v cannot write into data.
func frameFuzzView(t *testing.T, what string, data, v []byte, off int) {
	t.Helper()
	if off < 0 || off+len(v) > len(data) || cap(v) != len(v) ||
		(len(v) > 0 && unsafe.SliceData(v) != &data[off]) || !bytes.Equal(v, data[off:off+len(v)]) {
		t.Fatalf("%s is not data[%d:%d] (len %d cap %d, data len %d)", what, off, off+len(v), len(v), cap(v), len(data))
	}
}

// FuzzDecodeFrame: no panic; an error wraps a sentinel and depends on the
// first 12 bytes only; "incomplete" only for an incomplete frame; a decoded
// frame views into the input, re-encodes to the same bytes, and each of its
// strict prefixes is incomplete.
func FuzzDecodeFrame(f *testing.F) {
	frameFuzzAdd(f, "FuzzDecodeFrame")
	f.Fuzz(func(t *testing.T, data []byte, limit uint32) {
		maxLen := int(limit)
		fr, n, err := codec.DecodeFrame(data, maxLen)
		if err != nil {
			if n != 0 || fr.Body != nil || !frameFuzzSentinel(err) {
				t.Fatalf("error %v with n %d, frame %+v", err, n, fr)
			}
			head := data[:min(len(data), codec.LengthLen+codec.HeaderLen)]
			if _, _, err2 := codec.DecodeFrame(head, maxLen); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("error %v, but on the first %d bytes: %v", err, len(head), err2)
			}
			return
		}
		ln, ok := codec.FrameLength(data)
		if n == 0 {
			if fr.Body != nil || fr.Type != 0 || fr.RequestID != 0 {
				t.Fatalf("incomplete, yet decoded %+v", fr)
			}
			if ok && len(data) >= codec.LengthLen+int(ln) {
				t.Fatalf("whole frame of %d bytes in %d reported incomplete", ln, len(data))
			}
			return
		}
		if !ok || n != codec.LengthLen+int(ln) || n > len(data) {
			t.Fatalf("n = %d, length prefix %d, input %d bytes", n, ln, len(data))
		}
		if !fr.Type.Valid() || (fr.Type == codec.ServerFailure && fr.RequestID != 0) {
			t.Fatalf("decoded %+v", fr)
		}
		off := codec.LengthLen + codec.HeaderLen
		if fr.Type.HasRequestID() {
			off += codec.RequestIDLen
		}
		if len(fr.Body) != n-off {
			t.Fatalf("body of %d bytes, frame of %d, header %d", len(fr.Body), n, off)
		}
		frameFuzzView(t, "Body", data, fr.Body, off)
		re := append(codec.AppendHeader(nil, fr.Type, fr.RequestID, len(fr.Body)), fr.Body...)
		if !bytes.Equal(re, data[:n]) || codec.FrameSize(fr.Type, len(fr.Body)) != n {
			t.Fatalf("re-encoded\n%x\nfrom\n%x", re, data[:n])
		}
		for _, k := range []int{n - 1, min(n-1, off), min(n-1, codec.LengthLen+codec.HeaderLen)} {
			if _, pn, perr := codec.DecodeFrame(data[:k:k], maxLen); pn != 0 || perr != nil {
				t.Fatalf("prefix of %d bytes: n %d err %v, want incomplete", k, pn, perr)
			}
		}
		fc, err := codec.DecodeFrameContent(data[codec.LengthLen:n])
		if err != nil || fc.Type != fr.Type || fc.RequestID != fr.RequestID || !bytes.Equal(fc.Body, fr.Body) {
			t.Fatalf("DecodeFrameContent = %+v, %v; DecodeFrame %+v", fc, err, fr)
		}
		// The body decoders must not panic on whatever the frame carries.
		switch fr.Type {
		case codec.Request:
			_, _ = codec.DecodeKvStateRequest(fr.Body)
			_, _ = codec.DecodeKvStateInternalRequest(fr.Body)
		case codec.RequestResult:
			_, _ = codec.DecodeKvStateResponse(fr.Body)
		}
	})
}

// frameFuzzBody decodes body with decode. It returns ok false when decode
// failed, and fails t unless the error wraps ErrTruncated or
// ErrNegativeLength. A decoded value must have taken (size) no more than
// body's bytes, re-encode (enc) to exactly those bytes, and fail to decode
// with ErrTruncated from one byte fewer.
func frameFuzzBody[T any](t *testing.T, body []byte, decode func([]byte) (T, error), size func(T) int, enc func([]byte, T) []byte) (v T, ok bool) {
	t.Helper()
	v, err := decode(body)
	if err != nil {
		if !errors.Is(err, codec.ErrTruncated) && !errors.Is(err, codec.ErrNegativeLength) {
			t.Fatalf("error %v", err)
		}
		return v, false
	}
	n := size(v)
	if n > len(body) {
		t.Fatalf("decoded %d bytes from %d", n, len(body))
	}
	if e := enc(nil, v); !bytes.Equal(e, body[:n]) {
		t.Fatalf("re-encoded\n%x\nfrom\n%x", e, body[:n])
	}
	if _, err := decode(body[: n-1 : n-1]); !errors.Is(err, codec.ErrTruncated) {
		t.Fatalf("one byte short: %v", err)
	}
	return v, true
}

// frameFuzzFrame decodes frame, which an encoder wrote, as one whole frame
// of type typ and request id id, and returns its body.
func frameFuzzFrame(t *testing.T, frame []byte, typ codec.MessageType, id int64) []byte {
	t.Helper()
	fr, n, err := codec.DecodeFrame(frame, len(frame))
	if err != nil || n != len(frame) || fr.Type != typ || fr.RequestID != id {
		t.Fatalf("frame: %+v n %d err %v", fr, n, err)
	}
	return fr.Body
}

// FuzzDecodeKvStateRequest: no panic; errors wrap ErrTruncated or
// ErrNegativeLength; a decoded body views into the input, re-encodes to the
// bytes it was decoded from, loses a byte into ErrTruncated, and survives a
// trip through a REQUEST frame.
func FuzzDecodeKvStateRequest(f *testing.F) {
	frameFuzzAdd(f, "FuzzDecodeKvStateRequest")
	f.Fuzz(func(t *testing.T, body []byte) {
		r, ok := frameFuzzBody(t, body, codec.DecodeKvStateRequest, codec.KvStateRequestSize, codec.AppendKvStateRequest)
		if !ok {
			return
		}
		frameFuzzView(t, "StateName", body, r.StateName, 20)
		frameFuzzView(t, "KeyAndNamespace", body, r.KeyAndNamespace, 28+len(r.StateName))
		fb := frameFuzzFrame(t, codec.AppendKvStateRequestFrame(nil, 42, r), codec.Request, 42)
		r2, err := codec.DecodeKvStateRequest(fb)
		if err != nil || r2.JobID != r.JobID || r2.KeyHash != r.KeyHash || !bytes.Equal(r2.StateName, r.StateName) ||
			!bytes.Equal(r2.KeyAndNamespace, r.KeyAndNamespace) {
			t.Fatalf("through a frame: %+v, %v; want %+v", r2, err, r)
		}
	})
}

// FuzzDecodeKvStateInternalRequest: as FuzzDecodeKvStateRequest.
func FuzzDecodeKvStateInternalRequest(f *testing.F) {
	frameFuzzAdd(f, "FuzzDecodeKvStateInternalRequest")
	f.Fuzz(func(t *testing.T, body []byte) {
		r, ok := frameFuzzBody(t, body, codec.DecodeKvStateInternalRequest, codec.KvStateInternalRequestSize, codec.AppendKvStateInternalRequest)
		if !ok {
			return
		}
		frameFuzzView(t, "KeyAndNamespace", body, r.KeyAndNamespace, 20)
		fb := frameFuzzFrame(t, codec.AppendKvStateInternalRequestFrame(nil, -3, r), codec.Request, -3)
		r2, err := codec.DecodeKvStateInternalRequest(fb)
		if err != nil || r2.KvStateID != r.KvStateID || !bytes.Equal(r2.KeyAndNamespace, r.KeyAndNamespace) {
			t.Fatalf("through a frame: %+v, %v; want %+v", r2, err, r)
		}
	})
}

// FuzzDecodeKvStateResponse: as FuzzDecodeKvStateRequest, through a
// REQUEST_RESULT frame.
func FuzzDecodeKvStateResponse(f *testing.F) {
	frameFuzzAdd(f, "FuzzDecodeKvStateResponse")
	f.Fuzz(func(t *testing.T, body []byte) {
		c, ok := frameFuzzBody(t, body, codec.DecodeKvStateResponse,
			func(c []byte) int { return codec.KvStateResponseSize(len(c)) }, codec.AppendKvStateResponse)
		if !ok {
			return
		}
		frameFuzzView(t, "content", body, c, 4)
		frame := codec.AppendResultFrame(nil, 1<<40, c)
		if len(frame) != codec.ResultFrameSize(len(c)) {
			t.Fatalf("frame of %d bytes, ResultFrameSize %d", len(frame), codec.ResultFrameSize(len(c)))
		}
		if c2, err := codec.DecodeKvStateResponse(frameFuzzFrame(t, frame, codec.RequestResult, 1<<40)); err != nil || !bytes.Equal(c2, c) {
			t.Fatalf("through a frame: %x, %v; want %x", c2, err, c)
		}
	})
}
