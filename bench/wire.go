package bench

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/dataset"
)

// outcome is what a response says about its request.
type outcome uint8

const (
	outOK             outcome = iota // a value (REQUEST_RESULT, RESP bulk string)
	outRequestFailure                // REQUEST_FAILURE, RESP error or nil: class says which
	outServerFailure                 // SERVER_FAILURE: no request id, the stream is broken
)

// response is one parsed response. content and class are views into the
// parser's input, valid until the caller discards those bytes.
type response struct {
	id      uint64 // request id; meaningless for ordered protocols and server failures
	out     outcome
	content []byte // outOK: the value as the protocol carries it
	class   []byte // failures: Java exception class, or RESP error word
}

// wire is one protocol as the hot loop sees it. Implementations are
// read-only after construction and shared by every connection.
type wire interface {
	// ordered reports whether responses come back in request order (RESP)
	// rather than matched by request id (Flink).
	ordered() bool
	// appendRequest appends the request for key, carrying id
	// where the protocol has request ids.
	appendRequest(dst []byte, key int, id uint64) []byte
	// parse parses the response at the start of b. n is the number of
	// bytes it takes, 0 when b holds less than a whole response; need is
	// then the response's total size if known yet, else 0.
	parse(b []byte) (r response, n, need int, err error)
	// verify reports whether content is the synthetic value of key.
	verify(key int, content []byte) bool
}

// idOffset is where the request id sits in a Flink REQUEST frame.
const idOffset = codec.LengthLen + codec.HeaderLen

// flinkWire speaks Flink's queryable-state protocol. Every request is
// the same frame but for its id, its key hash (KvStateRequest) and its
// key's 4 bytes, so a request is a copy of one template with those
// patched in. (A table of one precomputed frame per key, as before, cost
// a cache miss per request: with 100,000 keys the copy out of it was a
// quarter of the harness's CPU time.)
type flinkWire struct {
	tmpl      []byte // the request for key 0, request id 0
	hashOff   int    // offset of the key hash in tmpl; -1 for KvStateInternalRequest
	keyOff    int    // offset of the key's 4 bytes in tmpl
	valueSize int
	values    dataset.SyntheticValues
	maxFrame  int
}

// newFlinkWire builds the REQUEST frame template for Java Integer keys of
// the synthetic dataset: IntSerializer (4 bytes big endian), VoidNamespace
// (magic 0x2A, one 0x00 byte), key hash = the int. The key and namespace
// end the frame, after the key hash and the key's length.
func newFlinkWire(cfg Config) (*flinkWire, error) {
	job, err := parseID(cfg.JobID)
	if err != nil {
		return nil, err
	}
	var kvID [16]byte
	if cfg.Internal {
		if kvID, err = parseID(cfg.KvStateID); err != nil {
			return nil, err
		}
	}
	w := &flinkWire{valueSize: cfg.ValueSize, maxFrame: cfg.MaxFrameLen, values: dataset.NewSyntheticValues(cfg.ValueSize)}
	name := []byte(cfg.StateName)
	frame := func(key int) []byte {
		k := appendKeyAndNamespace(nil, int32(key))
		if cfg.Internal {
			return codec.AppendKvStateInternalRequestFrame(nil, 0, codec.KvStateInternalRequest{KvStateID: kvID, KeyAndNamespace: k})
		}
		return codec.AppendKvStateRequestFrame(nil, 0, codec.KvStateRequest{JobID: job, StateName: name, KeyHash: int32(key), KeyAndNamespace: k})
	}
	w.tmpl = frame(0)
	w.keyOff = len(w.tmpl) - 6 // 4 key bytes, 0x2A, 0x00
	w.hashOff = -1
	if !cfg.Internal {
		w.hashOff = w.keyOff - 4 - 4 // the key hash, then the key and namespace's length
	}
	// The layout is codec's: check the patching against it once.
	for _, key := range []int{1, cfg.Keys - 1} {
		if key >= 0 && !bytes.Equal(w.appendRequest(nil, key, 0), frame(key)) {
			return nil, fmt.Errorf("bench: request template does not match codec's frame for key %d", key)
		}
	}
	return w, nil
}

// appendKeyAndNamespace appends the serialized key and namespace of the
// synthetic dataset's key: a Java Integer (IntSerializer, 4 bytes big endian),
// the magic byte 0x2A, and VoidNamespace (one 0x00 byte). Its Java hashCode,
// the key hash of a KvStateRequest, is key itself.
func appendKeyAndNamespace(dst []byte, key int32) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(key))
	return append(dst, 0x2a, 0x00)
}

func (w *flinkWire) ordered() bool { return false }

func (w *flinkWire) appendRequest(dst []byte, key int, id uint64) []byte {
	n := len(dst)
	dst = append(dst, w.tmpl...)
	r := dst[n:]
	binary.BigEndian.PutUint64(r[idOffset:], id)
	if w.hashOff >= 0 {
		binary.BigEndian.PutUint32(r[w.hashOff:], uint32(key))
	}
	binary.BigEndian.PutUint32(r[w.keyOff:], uint32(key))
	return dst
}

func (w *flinkWire) parse(b []byte) (response, int, int, error) {
	f, n, err := codec.DecodeFrame(b, w.maxFrame)
	if err != nil {
		return response{}, 0, 0, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	if n == 0 {
		need := 0
		if ln, ok := codec.FrameLength(b); ok {
			need = codec.LengthLen + int(ln)
		}
		return response{}, 0, need, nil
	}
	r := response{id: uint64(f.RequestID)}
	switch f.Type {
	case codec.RequestResult:
		c, err := codec.DecodeKvStateResponse(f.Body)
		if err != nil {
			return response{}, 0, 0, fmt.Errorf("%w: %w", ErrProtocol, err)
		}
		r.out, r.content = outOK, c
	case codec.RequestFailure:
		r.out, r.class = outRequestFailure, javaClassName(f.Body)
	case codec.ServerFailure:
		r.out, r.class = outServerFailure, javaClassName(f.Body)
	default:
		return response{}, 0, 0, fmt.Errorf("%w: %w: %s", ErrProtocol, codec.ErrUnexpectedType, f.Type)
	}
	return r, n, 0, nil
}

// verify checks the KvStateResponse content of a ValueState<byte[]>:
// BytePrimitiveArraySerializer's i32 length, then the value bytes.
func (w *flinkWire) verify(key int, content []byte) bool {
	if len(content) != 4+w.valueSize || binary.BigEndian.Uint32(content) != uint32(w.valueSize) {
		return false
	}
	return w.values.Equal(key, content[4:])
}

// javaClassName returns the class name of the object at the start of a
// Java serialization stream (AC ED 00 05, TC_OBJECT, TC_CLASSDESC, name):
// for a serialized Throwable, its concrete class. It returns a view into
// payload, or "?" when the stream does not start that way. It never
// allocates.
func javaClassName(payload []byte) []byte {
	// magic(2) version(2) TC_OBJECT TC_CLASSDESC u16 length, name.
	if len(payload) < 8 || payload[0] != 0xac || payload[1] != 0xed || payload[4] != 0x73 || payload[5] != 0x72 {
		return unknownClass
	}
	n := int(binary.BigEndian.Uint16(payload[6:]))
	if n == 0 || len(payload) < 8+n {
		return unknownClass
	}
	return payload[8 : 8+n]
}

var unknownClass = []byte("?")

// respWire speaks Redis's protocol: GET key:<i>, answers in order. A
// request is appended as it goes (no table: see flinkWire).
type respWire struct {
	valueSize int
	values    dataset.SyntheticValues
	maxBulk   int
}

// respMaxLine bounds a RESP reply's first line (type, length or error text).
const respMaxLine = 4096

func newRESPWire(cfg Config) *respWire {
	return &respWire{valueSize: cfg.ValueSize, maxBulk: cfg.MaxFrameLen, values: dataset.NewSyntheticValues(cfg.ValueSize)}
}

// respKey appends the RESP key of the synthetic dataset's key i: "key:<i>".
func respKey(dst []byte, i int) []byte {
	dst = append(dst, "key:"...)
	return strconv.AppendInt(dst, int64(i), 10)
}

// appendRESPCommand appends a RESP array of bulk strings.
func appendRESPCommand(dst []byte, args ...[]byte) []byte {
	dst = append(dst, '*')
	dst = strconv.AppendInt(dst, int64(len(args)), 10)
	dst = append(dst, '\r', '\n')
	for _, a := range args {
		dst = append(dst, '$')
		dst = strconv.AppendInt(dst, int64(len(a)), 10)
		dst = append(dst, '\r', '\n')
		dst = append(dst, a...)
		dst = append(dst, '\r', '\n')
	}
	return dst
}

func (w *respWire) ordered() bool { return true }

// appendRequest appends GET key:<key>, as appendRESPCommand would write it.
func (w *respWire) appendRequest(dst []byte, key int, _ uint64) []byte {
	digits := 1
	for k := key; k >= 10; k /= 10 {
		digits++
	}
	dst = append(dst, "*2\r\n$3\r\nGET\r\n$"...)
	dst = strconv.AppendInt(dst, int64(len("key:")+digits), 10)
	dst = append(dst, "\r\nkey:"...)
	dst = strconv.AppendInt(dst, int64(key), 10)
	return append(dst, '\r', '\n')
}

var (
	respNil     = []byte("(nil)")
	respUnknown = []byte("?")
)

// parse parses one reply to GET: a bulk string ($<n>\r\n<bytes>\r\n), a nil
// ($-1\r\n, a missing key) or an error (-WORD text\r\n).
func (w *respWire) parse(b []byte) (response, int, int, error) {
	if len(b) == 0 {
		return response{}, 0, 0, nil
	}
	lim := len(b)
	if lim > respMaxLine {
		lim = respMaxLine
	}
	eol := bytes.IndexByte(b[:lim], '\n')
	if eol < 0 {
		if lim == respMaxLine {
			return response{}, 0, 0, fmt.Errorf("%w: RESP line longer than %d bytes", ErrProtocol, respMaxLine)
		}
		return response{}, 0, 0, nil
	}
	if eol < 1 || b[eol-1] != '\r' {
		return response{}, 0, 0, fmt.Errorf("%w: RESP line not ended by CRLF", ErrProtocol)
	}
	line := b[1 : eol-1]
	switch b[0] {
	case '$':
		n, ok := parseRESPInt(line)
		if !ok || n < -1 {
			return response{}, 0, 0, fmt.Errorf("%w: bad RESP bulk length %q", ErrProtocol, line)
		}
		if n == -1 {
			return response{out: outRequestFailure, class: respNil}, eol + 1, 0, nil
		}
		if n > int64(w.maxBulk) {
			return response{}, 0, 0, fmt.Errorf("%w: RESP bulk of %d bytes, limit %d", ErrProtocol, n, w.maxBulk)
		}
		total := eol + 1 + int(n) + 2
		if len(b) < total {
			return response{}, 0, total, nil
		}
		if b[total-2] != '\r' || b[total-1] != '\n' {
			return response{}, 0, 0, fmt.Errorf("%w: RESP bulk not ended by CRLF", ErrProtocol)
		}
		return response{out: outOK, content: b[eol+1 : total-2]}, total, 0, nil
	case '-':
		word := line
		if i := bytes.IndexByte(word, ' '); i >= 0 {
			word = word[:i]
		}
		if len(word) == 0 {
			word = respUnknown
		}
		return response{out: outRequestFailure, class: word}, eol + 1, 0, nil
	}
	return response{}, 0, 0, fmt.Errorf("%w: unexpected RESP reply type %q to GET", ErrProtocol, b[0])
}

func (w *respWire) verify(key int, content []byte) bool {
	return w.values.Equal(key, content)
}

// parseRESPInt parses a RESP decimal integer without allocating.
func parseRESPInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}
