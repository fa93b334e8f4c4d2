package codec

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestAppendThrowableGolden: for every golden failure whose stack trace was
// set to an empty array (what a Go server sends), AppendThrowable of the
// class and message gives the JDK's bytes exactly.
func TestAppendThrowableGolden(t *testing.T) {
	n := 0
	for _, g := range goldenFailures(t) {
		if g.stack != "empty" {
			continue
		}
		n++
		t.Run(g.name, func(t *testing.T) {
			e := &JavaException{Class: g.class, Message: g.message}
			got, err := AppendThrowable(nil, e)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, g.payload) {
				t.Fatalf("AppendThrowable differs from the JDK\n got %x\nwant %x", got, g.payload)
			}
			if l, err := ThrowableLen(e); err != nil || l != len(got) {
				t.Fatalf("ThrowableLen = %d, %v; appended %d", l, err, len(got))
			}
			// Append semantics: dst's bytes are kept, the payload follows.
			prefix := []byte("frame header")
			got2, err := AppendThrowable(prefix, e)
			if err != nil || !bytes.HasPrefix(got2, prefix) || !bytes.Equal(got2[len(prefix):], g.payload) {
				t.Fatalf("AppendThrowable with a prefix: %x, %v", got2, err)
			}
			got3 := MustAppendThrowable(make([]byte, 0, len(g.payload)), e)
			if !bytes.Equal(got3, g.payload) {
				t.Fatal("MustAppendThrowable differs")
			}
		})
	}
	if n != 11 { // 8 REQUEST_FAILURE + 3 SERVER_FAILURE (vectors README)
		t.Fatalf("%d empty-stack vectors, want 11", n)
	}
}

// TestConstructorsMatchFlink: each constructor gives the class and text
// Flink sends (the golden vectors), and its payload is the JDK's.
func TestConstructorsMatchFlink(t *testing.T) {
	byName := map[string]goldenFailure{}
	for _, g := range goldenFailures(t) {
		byName[g.name] = g
	}
	id, _ := hex.DecodeString("00112233445566778899aabbccddeeff")
	var kvID, job [16]byte
	copy(kvID[:], id)
	for i := range job {
		job[i] = 0xff
	}
	unknownStateLocation := &JavaException{Class: "org.apache.flink.runtime.query.UnknownKvStateLocation",
		Message: "No KvStateLocation found for KvState instance with name 'nope'."}
	cases := []struct {
		vector  string
		e       *JavaException
		payload bool // the payload without Cause equals the vector's
	}{
		{"request_failure_frame/rid=1/UnknownKeyOrNamespaceException/empty", NewUnknownKeyOrNamespace(ServerName), true},
		{"request_failure_frame/rid=2/UnknownKeyOrNamespaceException/jvm", NewUnknownKeyOrNamespace(ServerName), false},
		{"exchange/direct/missing-key-1005", NewUnknownKeyOrNamespace(ProxyName), false},
		{"request_failure_frame/rid=3/UnknownKvStateIdException/empty", NewUnknownKvStateID(ServerName, kvID), true},
		{"request_failure_frame/rid=4/UnknownKvStateKeyGroupLocationException/empty", NewUnknownKvStateKeyGroupLocation(ProxyName), true},
		{"request_failure_frame/rid=5/UnknownLocationException/empty", NewUnknownLocation(job, "state"), true},
		{"request_failure_frame/rid=6/BadRequestException/empty", NewBadRequest(ProxyName, "NULL returned for request with ID 6."), true},
		{"request_failure_frame/rid=7/RuntimeException/empty", NewFailedRequest(7, NewUnknownLocation(job, "state")), true},
		{"request_failure_frame/rid=8/RuntimeException/empty", NewFailedRequest(8, unknownStateLocation), true},
		{"server_failure_frame/IllegalArgumentException/empty/AbstractServerHandler#channelRead",
			NewIllegalArgument("Unexpected message type REQUEST_RESULT. Expected REQUEST."), true},
	}
	for _, c := range cases {
		t.Run(c.vector, func(t *testing.T) {
			g, ok := byName[c.vector]
			if !ok {
				t.Fatalf("no vector %q", c.vector)
			}
			if c.e.Class != g.class || c.e.Message != g.message {
				t.Fatalf("got %q %q\nwant %q %q", c.e.Class, c.e.Message, g.class, g.message)
			}
			if !c.payload {
				return
			}
			got, err := AppendThrowable(nil, &JavaException{Class: c.e.Class, Message: c.e.Message})
			if err != nil || !bytes.Equal(got, g.payload) {
				t.Fatalf("payload differs (%v)\n got %x\nwant %x", err, got, g.payload)
			}
		})
	}
	if e := NewIllegalState("x"); e.Class != "java.lang.IllegalStateException" || e.Message != "x" || e.Cause != nil {
		t.Fatalf("NewIllegalState: %+v", e)
	}
	if e := NewRuntimeException("m", unknownStateLocation); e.Class != "java.lang.RuntimeException" || e.Cause != unknownStateLocation {
		t.Fatalf("NewRuntimeException: %+v", e)
	}
	f := NewFailedRequest(3, unknownStateLocation)
	if f.Cause != unknownStateLocation {
		t.Fatal("NewFailedRequest does not keep its cause")
	}
	// Nested causes are printed as Java prints them with empty stacks.
	f = NewFailedRequest(4, NewRuntimeException("outer", NewIllegalState("inner")))
	if want := "Failed request 4.\n Caused by: java.lang.RuntimeException: outer\nCaused by: java.lang.IllegalStateException: inner\n"; f.Message != want {
		t.Fatalf("NewFailedRequest message %q, want %q", f.Message, want)
	}
}

func TestExceptionClass(t *testing.T) {
	want := map[ExceptionClass]string{
		ClassRuntimeException:                        "java.lang.RuntimeException",
		ClassIllegalStateException:                   "java.lang.IllegalStateException",
		ClassIllegalArgumentException:                "java.lang.IllegalArgumentException",
		ClassBadRequestException:                     "org.apache.flink.queryablestate.network.BadRequestException",
		ClassUnknownKvStateIDException:               "org.apache.flink.queryablestate.exceptions.UnknownKvStateIdException",
		ClassUnknownKeyOrNamespaceException:          "org.apache.flink.queryablestate.exceptions.UnknownKeyOrNamespaceException",
		ClassUnknownKvStateKeyGroupLocationException: "org.apache.flink.queryablestate.exceptions.UnknownKvStateKeyGroupLocationException",
		ClassUnknownLocationException:                "org.apache.flink.queryablestate.exceptions.UnknownLocationException",
	}
	for c, name := range want {
		if c.Name() != name || c.String() != name {
			t.Errorf("%d: Name %q String %q, want %q", int(c), c.Name(), c.String(), name)
		}
		if got, ok := ExceptionClassOf(name); !ok || got != c {
			t.Errorf("ExceptionClassOf(%q) = %v, %v", name, got, ok)
		}
	}
	for _, bad := range []ExceptionClass{0, 9, -1} {
		if bad.Name() != "" || !strings.HasPrefix(bad.String(), "ExceptionClass(") {
			t.Errorf("invalid %d: Name %q String %q", int(bad), bad.Name(), bad.String())
		}
	}
	for _, name := range []string{"java.lang.Throwable", "java.lang.Exception", "org.apache.flink.util.FlinkException", "java.io.IOException", ""} {
		if _, ok := ExceptionClassOf(name); ok {
			t.Errorf("ExceptionClassOf(%q) ok", name)
		}
	}
}

func TestJavaExceptionIs(t *testing.T) {
	var id, job [16]byte
	sentinels := []error{ErrUnknownKeyOrNamespace, ErrUnknownKvStateID, ErrUnknownKvStateKeyGroupLocation, ErrUnknownLocation, ErrBadRequest}
	cases := []struct {
		e    *JavaException
		want []error
	}{
		{NewUnknownKeyOrNamespace(ServerName), []error{ErrUnknownKeyOrNamespace, ErrBadRequest}},
		{NewUnknownKvStateID(ServerName, id), []error{ErrUnknownKvStateID, ErrBadRequest}},
		{NewUnknownKvStateKeyGroupLocation(ProxyName), []error{ErrUnknownKvStateKeyGroupLocation, ErrBadRequest}},
		{NewUnknownLocation(job, "s"), []error{ErrUnknownLocation}},
		{NewBadRequest(ProxyName, "x"), []error{ErrBadRequest}},
		{NewRuntimeException("x", nil), nil},
		{NewIllegalArgument("x"), nil},
		{NewIllegalState("x"), nil},
		{&JavaException{Class: "org.apache.flink.runtime.query.UnknownKvStateLocation"}, nil},
		// errors.Is walks the causes.
		{NewFailedRequest(1, NewUnknownLocation(job, "s")), []error{ErrUnknownLocation}},
		{NewRuntimeException("a", NewRuntimeException("b", NewUnknownKvStateID(ProxyName, id))), []error{ErrUnknownKvStateID, ErrBadRequest}},
	}
	for _, c := range cases {
		wrapped := fmt.Errorf("query: %w", c.e)
		for _, s := range sentinels {
			want := false
			for _, w := range c.want {
				want = want || w == s
			}
			if got := errors.Is(c.e, s); got != want {
				t.Errorf("errors.Is(%s, %v) = %v", c.e.Class, s, got)
			}
			if got := errors.Is(wrapped, s); got != want {
				t.Errorf("errors.Is(wrapped %s, %v) = %v", c.e.Class, s, got)
			}
		}
		var je *JavaException
		if !errors.As(wrapped, &je) || je != c.e {
			t.Errorf("errors.As did not find the exception")
		}
		if errors.Is(c.e, ErrJavaStream) {
			t.Errorf("%s is ErrJavaStream", c.e.Class)
		}
	}
	if (&JavaException{Class: nameRuntime}).Unwrap() != nil {
		t.Error("Unwrap without a cause is not a nil error")
	}
	self := &JavaException{Class: nameRuntime}
	self.Cause = self
	if self.Unwrap() != nil {
		t.Error("Unwrap of a self cause is not nil")
	}
}

func TestJavaExceptionError(t *testing.T) {
	cases := []struct {
		e    *JavaException
		want string
	}{
		{&JavaException{Class: "java.lang.RuntimeException"}, "java.lang.RuntimeException"},
		{NewIllegalState("bad"), "java.lang.IllegalStateException: bad"},
		{NewRuntimeException("outer", NewIllegalState("inner")), "java.lang.RuntimeException: outer: java.lang.IllegalStateException: inner"},
		// Flink's embedded stack traces are left out of Error, lines joined.
		{&JavaException{Class: "java.lang.RuntimeException", Message: "Failed request 16.\n Caused by: x.Y: No KvStateLocation.\n\tat qspeer.A.b(A.java:1)\n\tat java.base/java.lang.Thread.run(Thread.java:840)\nCaused by: z.W: w\n\t... 3 more\n"},
			"java.lang.RuntimeException: Failed request 16. Caused by: x.Y: No KvStateLocation. Caused by: z.W: w"},
	}
	for _, c := range cases {
		if got := c.e.Error(); got != c.want {
			t.Errorf("Error() = %q\nwant %q", got, c.want)
		}
	}
	// A loop in a hand-built chain ends.
	a := &JavaException{Class: "A"}
	b := &JavaException{Class: "B", Cause: a}
	a.Cause = b
	if got := a.Error(); !strings.HasPrefix(got, "A: B: A: B") || strings.Count(got, ": ") != MaxCauseChain-1 {
		t.Errorf("looping chain: %q", got)
	}
}

func TestAppendThrowableRejects(t *testing.T) {
	dst := []byte("keep")
	bad := []*JavaException{
		nil,
		{Class: "java.lang.Throwable"},
		{Class: "java.io.IOException", Message: "x"},
		{Class: "org.apache.flink.runtime.query.UnknownKvStateLocation"},
		NewRuntimeException("outer", &JavaException{Class: "com.example.Secret"}),
		NewRuntimeException("a", NewRuntimeException("b", &JavaException{Class: "java.lang.RuntimeExceptio"})),
	}
	for _, e := range bad {
		got, err := AppendThrowable(dst, e)
		if !errors.Is(err, ErrClassNotAllowed) || string(got) != "keep" {
			t.Errorf("%v: got %q, %v", e, got, err)
		}
		if _, err := ThrowableLen(e); !errors.Is(err, ErrClassNotAllowed) {
			t.Errorf("ThrowableLen(%v): %v", e, err)
		}
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("MustAppendThrowable did not panic on a class not allowed")
			}
		}()
		MustAppendThrowable(nil, &JavaException{Class: "x"})
	}()
	chain := func(n int) *JavaException {
		var e *JavaException
		for i := range n {
			e = NewRuntimeException(fmt.Sprint(i), e)
		}
		return e
	}
	if _, err := AppendThrowable(nil, chain(MaxCauseChain)); err != nil {
		t.Errorf("chain of %d: %v", MaxCauseChain, err)
	}
	if _, err := AppendThrowable(nil, chain(MaxCauseChain+1)); !errors.Is(err, ErrCauseChainTooLong) {
		t.Errorf("chain of %d: %v", MaxCauseChain+1, err)
	}
}

// TestModifiedUTF8 checks the encoder against the rules of
// java.io.DataOutput.writeUTF: NUL as C0 80, U+0080..U+07FF in two bytes,
// the rest of the BMP in three, supplementary characters as two 3-byte
// surrogates.
func TestModifiedUTF8(t *testing.T) {
	cases := []struct {
		s    string
		want string // hex
	}{
		{"", ""},
		{"abc", "616263"},
		{"\x00", "c080"},
		{"a\x00b", "61c08062"},
		{"\u007f", "7f"},
		{"\u0080", "c280"},
		{"é", "c3a9"},
		{"\u07ff", "dfbf"},
		{"\u0800", "e0a080"},
		{"€", "e282ac"},
		{"\uffff", "efbfbf"},
		{"\U00010000", "eda080edb080"},
		{"😀", "eda0bdedb880"},
		{"\U0010ffff", "edafbfedbfbf"},
		{"\xff", "efbfbd"},                     // invalid UTF-8: U+FFFD
		{"\xed\xa0\x80", "efbfbdefbfbdefbfbd"}, // an encoded surrogate is invalid UTF-8 in Go
	}
	for _, c := range cases {
		got := appendModUTF8(nil, c.s)
		if hex.EncodeToString(got) != c.want || modUTF8Len(c.s) != len(got) {
			t.Errorf("%q: %x (len %d), want %s", c.s, got, modUTF8Len(c.s), c.want)
		}
		if !validModUTF8(got) {
			t.Errorf("%q: encoding not valid", c.s)
		}
	}
}

// TestMessageRoundTrip writes messages of every kind and reads them back,
// including the TC_STRING / TC_LONGSTRING boundary.
func TestMessageRoundTrip(t *testing.T) {
	msgs := []string{
		"", "x", "NUL\x00inside", "emoji 😀 and é and 日本", strings.Repeat("a", 0xFFFF),
		strings.Repeat("a", 0x10000), strings.Repeat("é", 0x8000), strings.Repeat("😀", 20000),
	}
	for _, m := range msgs {
		e := NewRuntimeException(m, nil)
		b, err := AppendThrowable(nil, e)
		if err != nil {
			t.Fatal(err)
		}
		// The message follows the self reference of the cause field.
		i := bytes.Index(b, []byte{tcReference, 0x00, 0x7e, 0x00, 0x07}) + 5
		n := modUTF8Len(m)
		switch {
		case m == "":
			if b[i] != tcNull {
				t.Errorf("empty message: tag %#x, want TC_NULL", b[i])
			}
		case n <= 0xFFFF:
			if b[i] != tcString || int(b[i+1])<<8|int(b[i+2]) != n {
				t.Errorf("%d-byte message: tag %#x", n, b[i])
			}
		default:
			if b[i] != tcLongString || !bytes.Equal(b[i+1:i+9], []byte{0, 0, 0, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}) {
				t.Errorf("%d-byte message: tag %#x length %x", n, b[i], b[i+1:i+9])
			}
		}
		got, err := readThrowable(b)
		if err != nil {
			t.Fatalf("%d-byte message: %v", n, err)
		}
		if got.Class != e.Class || got.Message != m || got.Cause != nil {
			t.Errorf("%d-byte message read back as %s %d bytes", n, got.Class, len(got.Message))
		}
	}
}

func TestCauseChainRoundTrip(t *testing.T) {
	var id [16]byte
	inner := NewUnknownKvStateID(ServerName, id)
	e := NewFailedRequest(5, NewRuntimeException("middle", inner))
	b, err := AppendThrowable(nil, e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readThrowable(b)
	if err != nil {
		t.Fatal(err)
	}
	if !sameChain(chainOf(got), chainOf(e)) || len(chainOf(got)) != 3 {
		t.Fatalf("read %v, wrote %v", chainOf(got), chainOf(e))
	}
	// Class descriptors already written are references: Throwable's and
	// Exception's appear once.
	if c := bytes.Count(b, []byte("java.lang.Throwable")); c != 1 {
		t.Errorf("Throwable descriptor written %d times", c)
	}
	if c := bytes.Count(b, []byte("java.util.Collections$EmptyList")); c != 1 {
		t.Errorf("EmptyList written %d times", c)
	}
	// A loop is written as a reference and read back cut.
	a := NewRuntimeException("a", nil)
	a2 := NewIllegalState("b")
	a.Cause, a2.Cause = a2, a
	b, err = AppendThrowable(nil, a)
	if err != nil {
		t.Fatal(err)
	}
	got, err = readThrowable(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := []JavaException{{Class: nameRuntime, Message: "a"}, {Class: nameIllegalState, Message: "b"}}; !sameChain(chainOf(got), want) {
		t.Fatalf("loop read back as %v", chainOf(got))
	}
}

func TestUnknownKeyOrNamespacePayload(t *testing.T) {
	var golden []byte
	for _, g := range goldenFailures(t) {
		if g.name == "request_failure_frame/rid=1/UnknownKeyOrNamespaceException/empty" {
			golden = g.payload
		}
	}
	if golden == nil {
		t.Fatal("no golden UnknownKeyOrNamespaceException vector")
	}
	for _, server := range []string{ServerName, ProxyName, "Other Server"} {
		want := MustAppendThrowable(nil, NewUnknownKeyOrNamespace(server))
		p := UnknownKeyOrNamespacePayload(server)
		if !bytes.Equal(p, want) {
			t.Errorf("%s: cached payload differs", server)
		}
		if server == ServerName && !bytes.Equal(p, golden) {
			t.Errorf("cached payload differs from the golden vector")
		}
		if cap(p) != len(p) {
			t.Errorf("%s: cap %d len %d: an append could write into the shared payload", server, cap(p), len(p))
		}
		got := AppendUnknownKeyOrNamespace([]byte("hdr"), server)
		if !bytes.Equal(got[3:], want) || string(got[:3]) != "hdr" {
			t.Errorf("%s: AppendUnknownKeyOrNamespace differs", server)
		}
	}
	if &UnknownKeyOrNamespacePayload(ServerName)[0] != &UnknownKeyOrNamespacePayload(ServerName)[0] {
		t.Error("payload for ServerName is not cached")
	}
}

func TestSendable(t *testing.T) {
	ok := NewFailedRequest(1, NewUnknownKeyOrNamespace(ServerName))
	if ok.Sendable() != ok {
		t.Error("Sendable copied an allowed chain")
	}
	flink := &JavaException{Class: "java.lang.RuntimeException", Message: "Failed request 2.",
		Cause: &JavaException{Class: "org.apache.flink.runtime.query.UnknownKvStateLocation", Message: "No KvStateLocation",
			Cause: &JavaException{Class: "java.io.IOException"}}}
	s := flink.Sendable()
	want := []JavaException{
		{Class: nameRuntime, Message: "Failed request 2."},
		{Class: nameRuntime, Message: "org.apache.flink.runtime.query.UnknownKvStateLocation: No KvStateLocation"},
		{Class: nameRuntime, Message: "java.io.IOException"},
	}
	if !sameChain(chainOf(s), want) {
		t.Fatalf("Sendable = %v", chainOf(s))
	}
	if _, err := AppendThrowable(nil, s); err != nil {
		t.Fatal(err)
	}
	if flink.Cause.Class != "org.apache.flink.runtime.query.UnknownKvStateLocation" {
		t.Error("Sendable modified its receiver")
	}
	var long *JavaException
	for range MaxCauseChain + 10 {
		long = NewRuntimeException("x", long)
	}
	if s := long.Sendable(); len(chainOf(s)) != MaxCauseChain {
		t.Errorf("Sendable of a long chain has %d exceptions", len(chainOf(s)))
	} else if _, err := AppendThrowable(nil, s); err != nil {
		t.Error(err)
	}
	if (*JavaException)(nil).Sendable() != nil {
		t.Error("nil.Sendable() != nil")
	}
}
