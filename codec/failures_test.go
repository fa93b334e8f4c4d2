package codec

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestFailureTexts: the failures other packages raise carry Flink's class
// and text (or, without a Flink counterpart, the server's name first), and
// every one is sendable (its classes are ExceptionClasses).
func TestFailureTexts(t *testing.T) {
	negName := make([]byte, 28)
	copy(negName[16:], []byte{0xff, 0xff, 0xff, 0xff})
	cases := []struct {
		name      string
		exc       *JavaException
		class     string
		message   string
		causeText string
	}{
		{"negative frame length", NewFrameFailure([]byte{0xff, 0xff, 0xff, 0xfe}, ErrNegativeLength), nameRuntime,
			"Exception in server pipeline. Caused by: io.netty.handler.codec.TooLongFrameException: Adjusted frame length exceeds 2147483647: 4294967298 - discarded\n", ""},
		{"bad version", NewFrameFailure([]byte{0, 0, 0, 12, 0, 0, 0, 7}, ErrBadVersion), nameRuntime,
			"Failed incoming message. Caused by: java.lang.IllegalStateException: Version Mismatch:  Found 7, Expected: 2040641296.\n",
			"Version Mismatch:  Found 7, Expected: 2040641296."},
		{"unexpected type", NewUnexpectedType(RequestResult), nameIllegalArgument, "Unexpected message type REQUEST_RESULT. Expected REQUEST.", ""},
		{"negative state name", NewMalformedRequest(ProxyName, negName, ErrNegativeLength), nameRuntime,
			"Failed incoming message. Caused by: java.lang.IllegalArgumentException: Negative length for state name. This indicates a serialization error.\n",
			"Negative length for state name. This indicates a serialization error."},
		{"negative key", NewMalformedRequest(ServerName, negName, ErrNegativeLength), nameRuntime,
			"Failed incoming message. Caused by: java.lang.IllegalArgumentException: Negative length for key and namespace. This indicates a serialization error.\n",
			"Negative length for key and namespace. This indicates a serialization error."},
		{"truncated body", NewMalformedRequest(ServerName, nil, ErrTruncated), nameBadRequest,
			"Queryable State Server : Malformed request body: codec: truncated body", ""},
		{"processing", NewProcessingError(7, "java.io.IOException", "bad"), nameRuntime,
			"Error while processing request with ID 7. Caused by: java.io.IOException: bad\n", ""},
		{"overloaded", NewOverloaded(ProxyName, 4), nameRuntime,
			"Queryable State Proxy Server : Server overloaded: all 4 query workers are busy; request rejected, retry later.", ""},
		{"shutting down", NewShuttingDown(ServerName), nameRuntime, "Queryable State Server : Server is shutting down; request rejected.", ""},
		{"internal", NewInternalError(ProxyName, "forwarding the request"), nameRuntime,
			"Queryable State Proxy Server : Internal error while forwarding the request.", ""},
		{"forward", NewForwardFailure("X", 2, 1500*time.Microsecond, "deadline", NewUnknownKvStateKeyGroupLocation(ServerName)), nameRuntime,
			"Queryable State Proxy Server : Could not forward the request to X: gave up after 2 attempts in 1.5ms. Last failure: deadline",
			"Queryable State Server : Unknown key-group location."},
	}
	for _, c := range cases {
		if c.exc.Class != c.class || c.exc.Message != c.message {
			t.Errorf("%s: %s %q\nwant %s %q", c.name, c.exc.Class, c.exc.Message, c.class, c.message)
		}
		if got := ""; c.exc.Cause != nil {
			got = c.exc.Cause.Message
			if got != c.causeText {
				t.Errorf("%s: cause %q, want %q", c.name, got, c.causeText)
			}
		} else if c.causeText != "" {
			t.Errorf("%s: no cause, want %q", c.name, c.causeText)
		}
		if _, err := AppendThrowable(nil, c.exc); err != nil {
			t.Errorf("%s: not sendable: %v", c.name, err)
		}
	}
	if NewFrameFailure(nil, ErrFrameTooLarge) != nil {
		t.Error("a frame over the limit gets a failure; want a close without a word")
	}
	if e := NewFrameFailure([]byte{0, 0, 0, 3}, ErrFrameTooShort); !strings.Contains(e.Message, "Frame length 3 is too short") || e.Cause == nil || e.Cause.Class != nameIllegalArgument {
		t.Errorf("short frame: %q", e.Message)
	}
}

// TestDecodeFailure: a failure frame of either kind decodes to its
// exception; a frame of another type is an error, not a guess.
func TestDecodeFailure(t *testing.T) {
	payload := MustAppendThrowable(nil, NewUnknownKvStateKeyGroupLocation(ProxyName))
	for _, frame := range [][]byte{AppendRequestFailureFrame(nil, 9, payload), AppendServerFailureFrame(nil, payload)} {
		f, _, err := DecodeFrame(frame, 0)
		if err != nil {
			t.Fatal(err)
		}
		e, err := DecodeFailure(f)
		if err != nil || e.Class != nameUnknownKeyGroup || e.Message != "Queryable State Proxy Server : Unknown key-group location." {
			t.Errorf("%s: %v, %v", f.Type, e, err)
		}
	}
	f, _, err := DecodeFrame(AppendResultFrame(nil, 9, []byte{1}), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeFailure(f); !errors.Is(err, ErrUnexpectedType) {
		t.Errorf("REQUEST_RESULT: %v, want ErrUnexpectedType", err)
	}
}
