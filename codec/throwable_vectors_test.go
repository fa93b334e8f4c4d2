package codec

import (
	"encoding/binary"
	"path/filepath"
	"slices"
	"testing"

	"github.com/qstate/qstate/internal/vectors"
)

// goldenFailure is one Java-serialized Throwable from the golden vectors.
type goldenFailure struct {
	name    string // kind/name of the vector
	class   string // exception_class
	message string // message
	stack   string // "empty", "jvm" (exchange vectors: "jvm")
	payload []byte // the serialization stream
}

// goldenFailures returns every failure payload of the golden vectors:
// request_failure_frame and server_failure_frame (payload_hex), and every
// exchange vector with an exception_class (payload cut out of
// response_frame_hex after the header and, for REQUEST_FAILURE, the request id).
func goldenFailures(tb testing.TB) []goldenFailure {
	tb.Helper()
	var out []goldenFailure
	for _, kind := range []string{"request_failure_frame", "server_failure_frame"} {
		vs, err := vectors.Kind(kind)
		if err != nil {
			tb.Fatal(err)
		}
		for _, v := range vs {
			out = append(out, goldenFailure{name: kind + "/" + v.Name, class: v.Str("exception_class"),
				message: v.Str("message"), stack: v.Str("stack"), payload: v.Hex("payload_hex")})
		}
	}
	vs, err := vectors.Kind("exchange")
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for _, v := range vs {
		if !v.Has("exception_class") {
			continue
		}
		n++
		frame := v.Hex("response_frame_hex")
		// [len i32][version i32][type i32]([request id i64]) payload
		skip := 12
		switch typ := binary.BigEndian.Uint32(frame[8:]); typ {
		case 2: // REQUEST_FAILURE
			skip += 8
		case 3: // SERVER_FAILURE
		default:
			tb.Fatalf("exchange %s: response type %d has no throwable", v.Name, typ)
		}
		if int(binary.BigEndian.Uint32(frame))+4 != len(frame) {
			tb.Fatalf("exchange %s: frame length prefix does not match the frame", v.Name)
		}
		out = append(out, goldenFailure{name: "exchange/" + v.Name, class: v.Str("exception_class"),
			message: v.Str("message"), stack: "jvm", payload: frame[skip:]})
	}
	if n == 0 {
		tb.Fatal("no exchange vector with an exception_class")
	}
	return out
}

// throwableFile is a file of vectors/throwables/ with the values
// java.io.ObjectInputStream (OpenJDK 17.0.15, with stub Flink classes)
// read from it, found once with testdata/java/ReadPayloads.java.
type throwableFile struct {
	file  string
	chain []JavaException // outer first; Cause fields unused
}

var throwableFiles = []throwableFile{
	{"jdk17_runtimeexception_cause_suppressed.bin", []JavaException{
		{Class: "java.lang.RuntimeException", Message: "outer"},
		{Class: "java.lang.IllegalStateException", Message: "inner"},
	}},
	{"jdk17_runtimeexception_empty_stack.bin", []JavaException{
		{Class: "java.lang.RuntimeException", Message: "boom"},
	}},
	{"jdk17_runtimeexception_with_stack.bin", []JavaException{
		{Class: "java.lang.RuntimeException", Message: "Failed request 0.\n Caused by: something"},
	}},
	{"jdk17_stub_unknownkeyornamespace_with_stack.bin", []JavaException{
		{Class: "org.apache.flink.queryablestate.exceptions.UnknownKeyOrNamespaceException",
			Message: "Queryable State Server : No state for the specified key/namespace."},
	}},
	{"minimal_runtimeexception_boom.bin", []JavaException{
		{Class: "java.lang.RuntimeException", Message: "boom"},
	}},
	{"minimal_unknownkeyornamespace.bin", []JavaException{
		{Class: "org.apache.flink.queryablestate.exceptions.UnknownKeyOrNamespaceException",
			Message: "Queryable State Server : No state for the specified key/namespace."},
	}},
}

// readThrowableFile returns the bytes of vectors/throwables/<name>.
func readThrowableFile(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := vectors.ReadFile("throwables/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// allThrowableFiles checks that throwableFiles lists every .bin of the
// directory, so a new vector cannot go untested.
func allThrowableFiles(tb testing.TB) {
	tb.Helper()
	bins, err := vectors.Glob("throwables/*.bin")
	if err != nil {
		tb.Fatal(err)
	}
	if len(bins) != len(throwableFiles) {
		tb.Fatalf("%d .bin files in throwables/, the test table has %d", len(bins), len(throwableFiles))
	}
	for _, b := range bins {
		found := false
		for _, f := range throwableFiles {
			found = found || f.file == filepath.Base(b)
		}
		if !found {
			tb.Fatalf("%s is not in the test table", b)
		}
	}
}

// chainOf flattens a cause chain, cut where a cause repeats an exception
// already in it (as readThrowable and ReadPayloads.java cut it).
func chainOf(e *JavaException) []JavaException {
	var out []JavaException
	var seen []*JavaException
	for x := e; x != nil && !slices.Contains(seen, x) && len(out) <= MaxCauseChain+1; x = x.Cause {
		seen = append(seen, x)
		out = append(out, JavaException{Class: x.Class, Message: x.Message})
	}
	return out
}

// sameChain reports whether a and b have the same classes and messages, in order.
func sameChain(a, b []JavaException) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Class != b[i].Class || a[i].Message != b[i].Message {
			return false
		}
	}
	return true
}
