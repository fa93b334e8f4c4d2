package client

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/internal/qstatetest"
	"github.com/qstate/qstate/internal/vectors"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestGoldenRequestFrames: the frames the client writes equal the ones
// Flink's MessageSerializer writes, byte for byte.
func TestGoldenRequestFrames(t *testing.T) {
	for _, v := range vectors.MustKind(t, "request_frame") {
		t.Run(v.Name, func(t *testing.T) {
			var job [16]byte
			copy(job[:], v.Hex("job_id_hex"))
			r := request{id16: job, name: v.Str("state_name"), keyHash: int32(v.Int("key_hash")), kv: v.Hex("key_and_namespace_hex")}
			if got, want := r.appendFrame(nil, v.Int("request_id")), v.Hex("frame_hex"); !bytes.Equal(got, want) {
				t.Errorf("frame\n got %x\nwant %x", got, want)
			}
		})
	}
	for _, v := range vectors.MustKind(t, "internal_request_frame") {
		t.Run(v.Name, func(t *testing.T) {
			r := request{internal: true, kv: v.Hex("key_and_namespace_hex")}
			copy(r.id16[:], v.Hex("kv_state_id_hex"))
			if got, want := r.appendFrame(nil, v.Int("request_id")), v.Hex("frame_hex"); !bytes.Equal(got, want) {
				t.Errorf("frame\n got %x\nwant %x", got, want)
			}
		})
	}
}

// TestGoldenResponses: REQUEST_RESULT frames from Flink deliver their
// content; REQUEST_FAILURE and SERVER_FAILURE frames deliver the Java
// exception Flink serialized, class and message intact.
func TestGoldenResponses(t *testing.T) {
	var mu sync.Mutex
	var reply []byte // the frame the server sends next, request id patched in
	srv := qstatetest.NewReplyServer(t, func(f codec.Frame) []byte {
		mu.Lock()
		defer mu.Unlock()
		if codec.MessageType(reply[codec.LengthLen+4+3]) == codec.ServerFailure {
			return reply
		}
		return withRequestID(reply, f.RequestID)
	})
	c := newClient(t, Config{})
	ctx := testCtx(t)
	get := func(frame []byte) ([]byte, error) {
		mu.Lock()
		reply = frame
		mu.Unlock()
		return c.GetKvState(ctx, srv.Addr(), testJob, "state", 0, []byte{0, 0, 0, 0, 0x2a, 0})
	}
	for _, v := range vectors.MustKind(t, "response_frame") {
		content, err := get(v.Hex("frame_hex"))
		if err != nil || !bytes.Equal(content, v.Hex("content_hex")) {
			t.Errorf("%s: got %x, %v; want %s", v.Name, content, err, v.Str("content_hex"))
		}
	}
	for _, v := range vectors.MustKind(t, "request_failure_frame") {
		_, err := get(v.Hex("frame_hex"))
		var re *RequestError
		if !errors.As(err, &re) {
			t.Errorf("%s: err = %v, want *RequestError", v.Name, err)
			continue
		}
		if re.Exception.Class != v.Str("exception_class") || re.Exception.Message != v.Str("message") {
			t.Errorf("%s: got %s: %q, want %s: %q", v.Name, re.Exception.Class, re.Exception.Message, v.Str("exception_class"), v.Str("message"))
		}
	}
	failures := c.Stats().Failures
	for _, v := range vectors.MustKind(t, "server_failure_frame") {
		_, err := get(v.Hex("frame_hex"))
		var jex *codec.JavaException
		if !errors.Is(err, ErrServerFailure) || !errors.As(err, &jex) {
			t.Errorf("%s: err = %v, want ErrServerFailure with a Java exception", v.Name, err)
			continue
		}
		if jex.Class != v.Str("exception_class") || jex.Message != v.Str("message") {
			t.Errorf("%s: got %s: %q, want %s: %q", v.Name, jex.Class, jex.Message, v.Str("exception_class"), v.Str("message"))
		}
	}
	if got, want := c.Stats().Failures-failures, uint64(len(vectors.MustKind(t, "server_failure_frame"))); got != want {
		t.Errorf("%d connections failed after %d SERVER_FAILUREs, want one each", got, want)
	}
}

// TestGoldenExchanges replays what Flink's proxy and server answered on a
// live connection: the client's request carries the same body as the
// request recorded (request id aside), and the recorded response decodes to
// the recorded content or exception.
func TestGoldenExchanges(t *testing.T) {
	for _, v := range vectors.MustKind(t, "exchange") {
		t.Run(v.Name, func(t *testing.T) {
			reqFrame, respFrame := v.Hex("request_frame_hex"), v.Hex("response_frame_hex")
			// Requests that Flink rejected as malformed (bad version,
			// wrong type, huge length) cannot come from this client: send
			// a sound request and answer it with Flink's response anyway.
			malformed := v.Str("response_type") == "SERVER_FAILURE"
			var req codec.KvStateRequest
			if !malformed {
				f, n, err := codec.DecodeFrame(reqFrame, 0)
				if err != nil || n != len(reqFrame) {
					t.Fatalf("recorded request: %v", err)
				}
				if req, err = codec.DecodeKvStateRequest(f.Body); err != nil {
					t.Fatal(err)
				}
			} else {
				req = codec.KvStateRequest{StateName: []byte("state"), KeyAndNamespace: []byte{0, 0, 0, 0, 0x2a, 0}}
			}
			srv := qstatetest.NewReplyServer(t, func(f codec.Frame) []byte {
				if malformed {
					return respFrame
				}
				// f decoded from exactly the bytes the client sent.
				got := append(codec.AppendHeader(nil, f.Type, f.RequestID, len(f.Body)), f.Body...)
				if want := withRequestID(reqFrame, f.RequestID); !bytes.Equal(got, want) {
					t.Errorf("request\n got %x\nwant %x", got, want)
				}
				return withRequestID(respFrame, f.RequestID)
			})
			c := newClient(t, Config{})
			content, err := c.GetKvState(testCtx(t), srv.Addr(), req.JobID, string(req.StateName), req.KeyHash, req.KeyAndNamespace)
			switch v.Str("response_type") {
			case "REQUEST_RESULT":
				if err != nil || !bytes.Equal(content, v.Hex("content_hex")) {
					t.Errorf("got %x, %v; want %s", content, err, v.Str("content_hex"))
				}
				return
			case "REQUEST_FAILURE":
				if !errors.Is(err, ErrRequestFailed) {
					t.Errorf("err = %v, want ErrRequestFailed", err)
				}
			case "SERVER_FAILURE":
				if !errors.Is(err, ErrServerFailure) {
					t.Errorf("err = %v, want ErrServerFailure", err)
				}
			}
			var jex *codec.JavaException
			if !errors.As(err, &jex) {
				t.Fatalf("err = %v carries no Java exception", err)
			}
			if jex.Class != v.Str("exception_class") || jex.Message != v.Str("message") {
				t.Errorf("got %s: %q\nwant %s: %q", jex.Class, jex.Message, v.Str("exception_class"), v.Str("message"))
			}
			if jex.Class == "org.apache.flink.queryablestate.exceptions.UnknownKeyOrNamespaceException" && !errors.Is(err, codec.ErrUnknownKeyOrNamespace) {
				t.Errorf("errors.Is(%v, codec.ErrUnknownKeyOrNamespace) = false", err)
			}
		})
	}
}
