package codec

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/qstate/qstate/internal/javatest"
)

// javaResult is what testdata/java/ReadPayloads.java printed for one file.
type javaResult struct {
	chain      []JavaException
	stack      int
	suppressed int
	reser      []byte
	err        string // "ERROR ..." line, when ObjectInputStream failed
}

// TestJavaInterop compiles the Java programs of testdata/java (with stub
// Flink exception classes of the same names, superclasses and
// serialVersionUIDs) and runs ObjectInputStream once over:
//   - every failure payload our server sends (each constructor, cause chains,
//     loops, messages over 65535 bytes, NUL, non-ASCII, emoji, invalid UTF-8):
//     Java must read the same class, message and cause chain, an empty stack
//     and no suppressed exceptions, and, re-serializing what it read, write our
//     bytes exactly;
//   - streams the JDK writes with every serialization feature
//     (WriteFeatures.java), the golden payloads and vectors/throwables/*.bin:
//     readThrowable must agree with Java on each (same chain, or both fail).
func TestJavaInterop(t *testing.T) {
	dir := t.TempDir()
	features := filepath.Join(dir, "features")
	if err := os.Mkdir(features, 0o755); err != nil {
		t.Fatal(err)
	}
	javatest.TestData.Run(t, javaTimeout, nil, "WriteFeatures", features)

	// Our payloads.
	ours := ourPayloads()
	var files []string
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
		return p
	}
	ourFile := map[string]string{}
	ourBytes := map[string][]byte{}
	for _, o := range ours {
		b, err := AppendThrowable(nil, o.e)
		if err != nil {
			t.Fatalf("%s: %v", o.name, err)
		}
		ourBytes[o.name] = b
		ourFile[o.name] = write("ours_"+o.name+".bin", b)
	}
	ourBytes["cached_ukon"] = UnknownKeyOrNamespacePayload(ServerName)
	ourFile["cached_ukon"] = write("ours_cached_ukon.bin", ourBytes["cached_ukon"])
	ours = append(ours, ourPayload{"cached_ukon", NewUnknownKeyOrNamespace(ServerName)})
	// Streams only to compare readers on.
	featureFiles, err := filepath.Glob(filepath.Join(features, "*.bin"))
	if err != nil || len(featureFiles) < 12 {
		t.Fatalf("WriteFeatures wrote %d files (%v)", len(featureFiles), err)
	}
	files = append(files, featureFiles...)
	for i, g := range goldenFailures(t) {
		write(fmt.Sprintf("golden_%02d.bin", i), g.payload)
	}
	for _, f := range throwableFiles {
		write("vector_"+f.file, readThrowableFile(t, f.file))
	}

	results := readJava(t, files)

	t.Run("JavaReadsOurs", func(t *testing.T) {
		for _, o := range ours {
			r := results[ourFile[o.name]]
			if r == nil || r.err != "" {
				t.Errorf("%s: Java failed: %+v", o.name, r)
				continue
			}
			want := chainOf(o.e)
			for i := range want {
				want[i].Message = string([]rune(want[i].Message)) // invalid UTF-8 bytes are sent as U+FFFD
			}
			if !sameChain(r.chain, want) {
				t.Errorf("%s: Java read %s\nwe wrote %s", o.name, describe(r.chain), describe(want))
			}
			if r.stack != 0 || r.suppressed != 0 {
				t.Errorf("%s: stack %d suppressed %d, want 0 0", o.name, r.stack, r.suppressed)
			}
			if !bytes.Equal(r.reser, ourBytes[o.name]) {
				t.Errorf("%s: the JDK serializes what it read differently\n jdk %x\nours %x", o.name, r.reser, ourBytes[o.name])
			}
		}
	})
	t.Run("ReadersAgree", func(t *testing.T) {
		for _, f := range files {
			r := results[f]
			e, err := readThrowable(mustRead(t, f))
			switch {
			case r == nil:
				t.Errorf("%s: no Java result", f)
			case r.err != "":
				if err == nil {
					t.Errorf("%s: Java failed (%s), readThrowable read %s", f, r.err, describe(chainOf(e)))
				}
			case err != nil:
				t.Errorf("%s: Java read %s, readThrowable failed: %v", f, describe(r.chain), err)
			case !sameChain(chainOf(e), r.chain):
				t.Errorf("%s: Java read %s\nreadThrowable read %s", f, describe(r.chain), describe(chainOf(e)))
			}
		}
	})
}

// javaTimeout bounds one run of a Java program.
const javaTimeout = 3 * time.Minute

type ourPayload struct {
	name string
	e    *JavaException
}

// ourPayloads is every kind of failure payload our server sends.
func ourPayloads() []ourPayload {
	var id, job [16]byte
	for i := range id {
		id[i] = byte(i * 17)
		job[i] = byte(255 - i)
	}
	loopA := NewRuntimeException("loop a", nil)
	loopB := NewIllegalState("loop b")
	loopA.Cause, loopB.Cause = loopB, loopA
	var long *JavaException
	for i := range MaxCauseChain {
		long = NewRuntimeException("level "+strconv.Itoa(i), long)
	}
	foreign := &JavaException{Class: "java.lang.RuntimeException", Message: "Failed request 9.",
		Cause: &JavaException{Class: "org.apache.flink.runtime.query.UnknownKvStateLocation", Message: "No KvStateLocation found"}}
	return []ourPayload{
		{"ukon_server", NewUnknownKeyOrNamespace(ServerName)},
		{"ukon_proxy", NewUnknownKeyOrNamespace(ProxyName)},
		{"unknown_kvstate_id", NewUnknownKvStateID(ServerName, id)},
		{"unknown_keygroup_location", NewUnknownKvStateKeyGroupLocation(ProxyName)},
		{"unknown_location", NewUnknownLocation(job, "my-state")},
		{"bad_request", NewBadRequest(ProxyName, "NULL returned for request with ID 6.")},
		{"runtime", NewRuntimeException("plain", nil)},
		{"illegal_argument", NewIllegalArgument("Unexpected message type REQUEST_RESULT. Expected REQUEST.")},
		{"illegal_state", NewIllegalState("state")},
		{"failed_request", NewFailedRequest(7, NewUnknownLocation(job, "s"))},
		{"failed_request_nested", NewFailedRequest(8, NewRuntimeException("middle", NewUnknownKvStateID(ProxyName, id)))},
		{"chain_every_class", chainEveryClass(id, job)},
		{"long_ascii", NewRuntimeException(strings.Repeat("x", 70000), nil)},
		{"long_multibyte", NewRuntimeException(strings.Repeat("é😀\x00", 12000), NewIllegalState(strings.Repeat("€", 30000)))},
		{"exactly_65535", NewRuntimeException(strings.Repeat("y", 65535), nil)},
		{"exactly_65536", NewRuntimeException(strings.Repeat("y", 65536), nil)},
		{"unicode", NewRuntimeException("NUL\x00 é € 😀 日本 \U0010FFFF \u07ff \u0800 \uffff", nil)},
		{"empty_message", NewRuntimeException("", NewIllegalState(""))},
		{"invalid_utf8", NewRuntimeException("bad \xff\xfe end \xed\xa0\x80", nil)},
		{"loop", loopA},
		{"self_cause", func() *JavaException { e := NewIllegalState("self"); e.Cause = e; return e }()},
		{"max_chain", long},
		{"sendable_foreign", foreign.Sendable()},
	}
}

// chainEveryClass is a chain of one exception of every ExceptionClass.
func chainEveryClass(id, job [16]byte) *JavaException {
	chain := []*JavaException{
		NewRuntimeException("1", nil), NewIllegalState("2"), NewIllegalArgument("3"), NewBadRequest(ServerName, "4"),
		NewUnknownKvStateID(ServerName, id), NewUnknownKeyOrNamespace(ServerName),
		NewUnknownKvStateKeyGroupLocation(ServerName), NewUnknownLocation(job, "8"),
	}
	for i := 0; i+1 < len(chain); i++ {
		chain[i].Cause = chain[i+1]
	}
	return chain[0]
}

// readJava runs ReadPayloads over files and parses its output.
func readJava(t *testing.T, files []string) map[string]*javaResult {
	t.Helper()
	// A list file keeps the command line short.
	list := filepath.Join(t.TempDir(), "files")
	if err := os.WriteFile(list, []byte(strings.Join(files, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := javatest.TestData.Run(t, javaTimeout, nil, "ReadPayloads", "-list", list)
	results := map[string]*javaResult{}
	var cur *javaResult
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		kind, rest, _ := strings.Cut(sc.Text(), " ")
		switch kind {
		case "FILE":
			cur = &javaResult{}
			results[rest] = cur
		case "EX":
			p := strings.SplitN(rest, " ", 3)
			msg := ""
			if p[2] != "-" {
				u, err := hex.DecodeString(p[2])
				if err != nil {
					t.Fatal(err)
				}
				units := make([]uint16, len(u)/2)
				for i := range units {
					units[i] = uint16(u[2*i])<<8 | uint16(u[2*i+1])
				}
				msg = string(utf16.Decode(units))
			}
			cur.chain = append(cur.chain, JavaException{Class: p[1], Message: msg})
		case "INFO":
			if _, err := fmt.Sscan(rest, &cur.stack, &cur.suppressed); err != nil {
				t.Fatal(err)
			}
		case "RESER":
			b, err := hex.DecodeString(rest)
			if err != nil {
				t.Fatal(err)
			}
			cur.reser = b
		case "ERROR":
			cur.err = rest
		case "END":
		default:
			t.Fatalf("unexpected ReadPayloads line %q", sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(results) != len(files) {
		t.Fatalf("ReadPayloads reported %d files of %d", len(results), len(files))
	}
	return results
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// describe prints a chain with messages cut to 60 bytes.
func describe(c []JavaException) string {
	var b strings.Builder
	for i, e := range c {
		m := e.Message
		if len(m) > 60 {
			m = m[:60] + fmt.Sprintf("...(%d bytes)", len(e.Message))
		}
		fmt.Fprintf(&b, "[%d %s %q]", i, e.Class, m)
	}
	return b.String()
}

// The Java of javatest.TestData (testdata/java) is the programs and Flink stubs TestJavaInterop runs.
func TestMain(m *testing.M) { javatest.Main(m) }
