package bench

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/internal/qstatetest"
	"github.com/qstate/qstate/internal/vectors"
)

// Golden payloads (Flink's own Java serialization) the fakes answer with.
const (
	classUnknownKey = "org.apache.flink.queryablestate.exceptions.UnknownKeyOrNamespaceException"
	classRuntime    = "java.lang.RuntimeException"
)

func goldenFailurePayload(t testing.TB, name string) []byte {
	t.Helper()
	vs, err := vectors.Kind("request_failure_frame")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if v.Name == name {
			return v.Hex("payload_hex")
		}
	}
	t.Fatalf("no request_failure_frame %q", name)
	return nil
}

func goldenServerFailurePayload(t testing.TB) (payload []byte, class string) {
	t.Helper()
	vs, err := vectors.Kind("server_failure_frame")
	if err != nil {
		t.Fatal(err)
	}
	f, n, err := codec.DecodeFrame(vs[0].Hex("frame_hex"), 0)
	if err != nil || n == 0 {
		t.Fatalf("golden server failure: n=%d err=%v", n, err)
	}
	return f.Body, vs[0].Str("exception_class")
}

// fakeFlink is a small Flink queryable-state server built on the codec: it
// serves the synthetic dataset (keys 0..keys-1, values of valueSize bytes)
// and answers a missing key with the golden UnknownKeyOrNamespaceException.
// Its knobs break it in the ways the harness must notice. It allocates
// nothing per request in steady state.
type fakeFlink struct {
	keys      int
	valueSize int
	job       [16]byte
	state     string
	kvStateID [16]byte

	missPayload []byte
	// wrongKey, when >= 0, gets a value with one byte flipped.
	wrongKey int
	// reverse answers each batch of pipelined requests in reverse order.
	reverse bool
	// silent reads requests and never answers.
	silent bool
	// badIDAfter, when > 0, answers the request with that 1-based number
	// (per connection) with a request id nobody sent.
	badIDAfter int64
	// serverFailureAt, when > 0, answers that request (per connection) with
	// a SERVER_FAILURE frame instead.
	serverFailureAt int64
	sfPayload       []byte

	srv      *qstatetest.Server
	requests atomic.Int64 // requests answered or swallowed
	misses   atomic.Int64 // answered with UnknownKeyOrNamespaceException
	wrongs   atomic.Int64 // answered with the corrupted value
}

func newFakeFlink(t testing.TB, keys, valueSize int) *fakeFlink {
	t.Helper()
	job, _ := parseID(dataset.SyntheticJobID)
	kv, _ := parseID("0102030405060708090a0b0c0d0e0f10")
	return &fakeFlink{
		keys: keys, valueSize: valueSize, job: job, state: dataset.SyntheticState, kvStateID: kv,
		missPayload: goldenFailurePayload(t, "rid=1/UnknownKeyOrNamespaceException/empty"),
		wrongKey:    -1,
	}
}

// start listens on 127.0.0.1:0 and serves until the test ends.
func (f *fakeFlink) start(t testing.TB) string {
	t.Helper()
	f.srv = qstatetest.NewServer(t, func(_ int, c *qstatetest.Conn) { f.serve(c) })
	return f.srv.Addr()
}

// waitClosed waits until n connections have been closed by their peer.
func (f *fakeFlink) waitClosed(t testing.TB, n int64) {
	t.Helper()
	f.srv.Closed.WaitN(t, 5*time.Second, int(n), nil, "the harness to close its connections")
}

func (f *fakeFlink) serve(c *qstatetest.Conn) {
	r := c.R
	var (
		hdr     [4]byte
		body    []byte
		out     []byte
		batch   [][]byte // reverse: responses of the batch, in arrival order
		pool    [][]byte
		val     []byte
		content []byte
		n       int64
	)
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		ln := int(binary.BigEndian.Uint32(hdr[:]))
		if ln < codec.HeaderLen || ln > 1<<20 {
			return
		}
		if cap(body) < 4+ln {
			body = make([]byte, 4+ln)
		}
		body = body[:4+ln]
		copy(body, hdr[:])
		if _, err := io.ReadFull(r, body[4:]); err != nil {
			return
		}
		fr, _, err := codec.DecodeFrame(body, 0)
		if err != nil || fr.Type != codec.Request {
			return
		}
		n++
		f.requests.Add(1)
		if f.silent {
			continue
		}
		var resp []byte
		if len(pool) > 0 {
			resp, pool = pool[len(pool)-1][:0], pool[:len(pool)-1]
		}
		id := fr.RequestID
		if f.badIDAfter > 0 && n == f.badIDAfter {
			id ^= 0x5a5a << 20
		}
		switch key, ok := f.lookup(fr.Body); {
		case f.serverFailureAt > 0 && n == f.serverFailureAt:
			resp = codec.AppendServerFailureFrame(resp, f.sfPayload)
		case !ok:
			f.misses.Add(1)
			resp = codec.AppendRequestFailureFrame(resp, id, f.missPayload)
		default:
			val = dataset.SyntheticValue(val[:0], key, f.valueSize)
			if key == f.wrongKey {
				val[len(val)-1] ^= 0xff
				f.wrongs.Add(1)
			}
			content = binary.BigEndian.AppendUint32(content[:0], uint32(len(val)))
			content = append(content, val...)
			resp = codec.AppendResultFrame(resp, id, content)
		}
		if f.reverse {
			batch = append(batch, resp)
		} else {
			out = append(out, resp...)
			pool = append(pool, resp)
		}
		if r.Buffered() > 0 {
			continue
		}
		for i := len(batch) - 1; i >= 0; i-- {
			out = append(out, batch[i]...)
			pool = append(pool, batch[i])
		}
		batch = batch[:0]
		if _, err := c.Write(out); err != nil {
			return
		}
		out = out[:0]
	}
}

// lookup decodes a request body (proxy or internal) and returns the key
// when the dataset holds it.
func (f *fakeFlink) lookup(body []byte) (int, bool) {
	var kn []byte
	if req, err := codec.DecodeKvStateRequest(body); err == nil && req.JobID == f.job && string(req.StateName) == f.state {
		if len(req.KeyAndNamespace) == 6 && int32(binary.BigEndian.Uint32(req.KeyAndNamespace)) != req.KeyHash {
			return 0, false
		}
		kn = req.KeyAndNamespace
	} else if ireq, err := codec.DecodeKvStateInternalRequest(body); err == nil && ireq.KvStateID == f.kvStateID {
		kn = ireq.KeyAndNamespace
	} else {
		return 0, false
	}
	if len(kn) != 6 || kn[4] != 0x2a || kn[5] != 0 {
		return 0, false
	}
	k := int(int32(binary.BigEndian.Uint32(kn)))
	return k, k >= 0 && k < f.keys
}

// fakeRESP is a tiny RESP server: GET and SET on an in-memory map,
// answering in order, enough for the harness's RESP mode.
type fakeRESP struct {
	mu   sync.Mutex
	data map[string][]byte
	gets atomic.Int64
}

func newFakeRESP(t testing.TB) (*fakeRESP, string) {
	t.Helper()
	f := &fakeRESP{data: map[string][]byte{}}
	return f, qstatetest.NewServer(t, func(_ int, c *qstatetest.Conn) { f.serve(c) }).Addr()
}

func (f *fakeRESP) serve(c *qstatetest.Conn) {
	r := c.R
	w := bufio.NewWriter(c)
	for {
		args, err := readRESPArray(r)
		if err != nil {
			return
		}
		switch {
		case len(args) == 2 && string(args[0]) == "GET":
			f.gets.Add(1)
			f.mu.Lock()
			v, ok := f.data[string(args[1])]
			f.mu.Unlock()
			if !ok {
				w.WriteString("$-1\r\n")
			} else {
				w.WriteString("$" + strconv.Itoa(len(v)) + "\r\n")
				w.Write(v)
				w.WriteString("\r\n")
			}
		case len(args) == 3 && string(args[0]) == "SET":
			f.mu.Lock()
			f.data[string(args[1])] = append([]byte(nil), args[2]...)
			f.mu.Unlock()
			w.WriteString("+OK\r\n")
		default:
			w.WriteString("-ERR unknown command\r\n")
		}
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return
			}
		}
	}
}

func readRESPArray(r *bufio.Reader) ([][]byte, error) {
	n, err := readRESPHeader(r, '*', 1, 16, "an array")
	if err != nil {
		return nil, err
	}
	args := make([][]byte, n)
	for i := range args {
		l, err := readRESPHeader(r, '$', 0, 1<<26, "a bulk string")
		if err != nil {
			return nil, err
		}
		b := make([]byte, l+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		args[i] = b[:l]
	}
	return args, nil
}

// readRESPHeader reads the line "<kind><n>\r\n" that starts a RESP array
// or bulk string (what) and returns n, which must be in [lo, hi].
func readRESPHeader(r *bufio.Reader, kind byte, lo, hi int, what string) (int, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 4 || line[0] != kind {
		return 0, fmt.Errorf("not %s", what)
	}
	n, err := strconv.Atoi(line[1 : len(line)-2])
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("bad length of %s", what)
	}
	return n, nil
}
