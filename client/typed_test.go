package client

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/internal/qstatetest"
	"github.com/qstate/qstate/internal/vectors"
	"github.com/qstate/qstate/state"
)

// contentServer answers every request with the content last set, or with
// the failure last set, and records the last request it got.
type contentServer struct {
	*qstatetest.Server
	mu      sync.Mutex
	content []byte
	failure *codec.JavaException
	lastReq codec.KvStateRequest
}

func newContentServer(t *testing.T) *contentServer {
	s := &contentServer{}
	s.Server = qstatetest.NewReplyServer(t, func(f codec.Frame) []byte {
		s.mu.Lock()
		defer s.mu.Unlock()
		r, err := codec.DecodeKvStateRequest(f.Body)
		if err != nil {
			t.Errorf("fake server: %v", err)
			return nil
		}
		r.StateName, r.KeyAndNamespace = bytes.Clone(r.StateName), bytes.Clone(r.KeyAndNamespace)
		s.lastReq = r
		if s.failure != nil {
			return codec.AppendRequestFailureFrame(nil, f.RequestID, failurePayload(s.failure))
		}
		return codec.AppendResultFrame(nil, f.RequestID, s.content)
	})
	return s
}

func (s *contentServer) answer(content []byte, failure *codec.JavaException) {
	s.mu.Lock()
	s.content, s.failure = content, failure
	s.mu.Unlock()
}

func (s *contentServer) last() codec.KvStateRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastReq
}

// typedValue decodes the JSON form of a typed vector value (vectors/README.md).
func typedValue(t *testing.T, typ string, raw json.RawMessage, bitsHex string) any {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Fatalf("%s value %s: %v", typ, raw, err)
		}
	}
	switch typ {
	case "int":
		var v int32
		must(json.Unmarshal(raw, &v))
		return v
	case "long":
		var v int64
		must(json.Unmarshal(raw, &v))
		return v
	case "string":
		var v *string
		if must(json.Unmarshal(raw, &v)); v == nil {
			return nil
		}
		return *v
	case "boolean":
		var v bool
		must(json.Unmarshal(raw, &v))
		return v
	case "double":
		b, err := hex.DecodeString(bitsHex)
		must(err)
		if len(b) != 8 {
			t.Fatalf("double bits %q", bitsHex)
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b))
	case "bytes":
		var s *string
		if must(json.Unmarshal(raw, &s)); s == nil {
			return nil
		}
		b, err := hex.DecodeString(*s)
		must(err)
		return b
	}
	t.Fatalf("unsupported type %q", typ)
	return nil
}

// typedGets runs GetValue (keyed by int 7) and GetList (keyed by string
// "k") with the value serializer of one type.
type typedGets struct {
	value func(t *testing.T, c *Client, addr string) (any, error)
	list  func(t *testing.T, c *Client, addr string) ([]any, error)
}

// supported reports whether typ is one of supportedTypes.
func supported(typ string) bool {
	_, ok := supportedTypes[typ]
	return ok
}

func getsOf[V any](vs state.Serializer[V]) typedGets {
	return typedGets{
		value: func(t *testing.T, c *Client, addr string) (any, error) {
			return GetValue(testCtx(t), c, addr, testJob, "s", state.Int, 7, vs)
		},
		list: func(t *testing.T, c *Client, addr string) ([]any, error) {
			return toAny(GetList(testCtx(t), c, addr, testJob, "s", state.String, "k", vs))
		},
	}
}

// supportedTypes are the types the typed look-ups are tested with, by
// their names in the vectors.
var supportedTypes = map[string]typedGets{
	"int":     getsOf(state.Int),
	"long":    getsOf(state.Long),
	"string":  getsOf(state.String),
	"boolean": getsOf(state.Boolean),
	"double":  getsOf(state.Double),
	"bytes":   getsOf(state.Bytes),
}

func equalValues(a, b any) bool {
	if fa, ok := a.(float64); ok {
		fb, ok := b.(float64)
		return ok && math.Float64bits(fa) == math.Float64bits(fb)
	}
	if ba, ok := a.([]byte); ok {
		bb, ok := b.([]byte)
		return ok && bytes.Equal(ba, bb)
	}
	return a == b
}

// getValueAs runs GetValue with the serializer of typ, keyed by int 7.
func getValueAs(t *testing.T, c *Client, addr, typ string) (any, error) {
	gets, ok := supportedTypes[typ]
	if !ok {
		t.Fatalf("type %q", typ)
	}
	return gets.value(t, c, addr)
}

// getListAs runs GetList with the serializer of typ, keyed by string "k".
func getListAs(t *testing.T, c *Client, addr, typ string) ([]any, error) {
	gets, ok := supportedTypes[typ]
	if !ok {
		t.Fatalf("type %q", typ)
	}
	return gets.list(t, c, addr)
}

func toAny[V any](l []V, err error) ([]any, error) {
	out := make([]any, len(l))
	for i, v := range l {
		out[i] = v
	}
	return out, err
}

// TestGoldenValues: value contents written by Flink decode with GetValue
// and print with FormatContent.
func TestGoldenValues(t *testing.T) {
	srv := newContentServer(t)
	c := newClient(t, Config{})
	for _, v := range vectors.MustKind(t, "value") {
		typ := v.Str("value_type")
		if !supported(typ) {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			bits := ""
			if v.Has("value_bits_hex") {
				bits = v.Str("value_bits_hex")
			}
			want := typedValue(t, typ, v.Fields["value"], bits)
			srv.answer(v.Hex("hex"), nil)
			got, err := getValueAs(t, c, srv.Addr(), typ)
			if err != nil || !equalValues(got, want) {
				t.Fatalf("got %#v, %v; want %#v", got, err, want)
			}
			tt, _ := ParseType(typ)
			lines, err := FormatContent(v.Hex("hex"), KindValue, tt, 0)
			if err != nil || len(lines) != 1 || lines[0] != formatValue(want) {
				t.Errorf("FormatContent = %q, %v; want [%q]", lines, err, formatValue(want))
			}
		})
	}
	// The request carried int key 7 in the VoidNamespace with its Java hash.
	if r := srv.last(); !bytes.Equal(r.KeyAndNamespace, []byte{0, 0, 0, 7, 0x2a, 0}) || r.KeyHash != 7 || string(r.StateName) != "s" || r.JobID != testJob {
		t.Errorf("request %+v", r)
	}
}

// TestGoldenLists: list contents written by Flink decode with GetList and
// print one element per line.
func TestGoldenLists(t *testing.T) {
	srv := newContentServer(t)
	c := newClient(t, Config{})
	for _, v := range vectors.MustKind(t, "list") {
		typ := v.Str("element_type")
		t.Run(v.Name, func(t *testing.T) {
			var raws []json.RawMessage
			v.Decode("elements", &raws)
			want := make([]any, len(raws))
			wantLines := make([]string, len(raws))
			for i, r := range raws {
				want[i] = typedValue(t, typ, r, "")
				wantLines[i] = formatValue(want[i])
			}
			srv.answer(v.Hex("hex"), nil)
			got, err := getListAs(t, c, srv.Addr(), typ)
			if err != nil || !slices.EqualFunc(got, want, equalValues) {
				t.Fatalf("got %#v, %v; want %#v", got, err, want)
			}
			tt, _ := ParseType(typ)
			lines, err := FormatContent(v.Hex("hex"), KindList, tt, 0)
			if err != nil || !slices.Equal(lines, wantLines) {
				t.Errorf("FormatContent = %q, %v; want %q", lines, err, wantLines)
			}
		})
	}
}

// TestGoldenMaps: map contents written by Flink (null values included)
// decode with GetMap and print as sorted k=v lines.
func TestGoldenMaps(t *testing.T) {
	srv := newContentServer(t)
	c := newClient(t, Config{})
	for _, v := range vectors.MustKind(t, "map") {
		kt, vt := v.Str("key_type"), v.Str("value_type")
		t.Run(v.Name, func(t *testing.T) {
			var entries [][2]json.RawMessage
			v.Decode("entries", &entries)
			type entry struct {
				k, v any
			}
			want := make([]entry, len(entries))
			for i, e := range entries {
				want[i] = entry{typedValue(t, kt, e[0], ""), nil}
				if string(e[1]) != "null" {
					want[i].v = typedValue(t, vt, e[1], "")
				}
			}
			srv.answer(v.Hex("hex"), nil)
			got, err := getMapAs(t, c, srv.Addr(), kt, vt)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d entries %v, want %d", len(got), got, len(want))
			}
			for _, e := range want {
				gv, ok := got[fmt.Sprint(e.k)]
				if !ok || !equalValues(gv, e.v) {
					t.Errorf("entry %v: got %#v (present %v), want %#v", e.k, gv, ok, e.v)
				}
			}
			// FormatContent: sorted by key.
			ktt, _ := ParseType(kt)
			vtt, _ := ParseType(vt)
			sort.Slice(want, func(i, j int) bool { return compareValues(want[i].k, want[j].k) < 0 })
			wantLines := make([]string, len(want))
			for i, e := range want {
				wantLines[i] = formatValue(e.k) + "=" + formatValue(e.v)
			}
			lines, err := FormatContent(v.Hex("hex"), KindMap, vtt, ktt)
			if err != nil || !slices.Equal(lines, wantLines) {
				t.Errorf("FormatContent = %q, %v; want %q", lines, err, wantLines)
			}
		})
	}
}

// mapGets are GetMap, keyed by long 1, for the map types the vectors use,
// by "key->value" type names.
var mapGets = map[string]func(t *testing.T, c *Client, addr string) (map[string]any, error){
	"string->int":    mapGetOf(state.String, state.Int),
	"int->string":    mapGetOf(state.Int, state.String),
	"long->long":     mapGetOf(state.Long, state.Long),
	"string->bytes":  mapGetOf(state.String, state.Bytes),
	"int->int":       mapGetOf(state.Int, state.Int),
	"string->string": mapGetOf(state.String, state.String),
}

func mapGetOf[MK comparable, MV any](mks state.Serializer[MK], mvs state.Serializer[MV]) func(t *testing.T, c *Client, addr string) (map[string]any, error) {
	return func(t *testing.T, c *Client, addr string) (map[string]any, error) {
		return mapAny(GetMap(testCtx(t), c, addr, testJob, "s", state.Long, 1, mks, mvs))
	}
}

// getMapAs runs GetMap for the map types the vectors use and returns the
// entries keyed by fmt.Sprint(key), a nil value for Java's null.
func getMapAs(t *testing.T, c *Client, addr, kt, vt string) (map[string]any, error) {
	get, ok := mapGets[kt+"->"+vt]
	if !ok {
		t.Fatalf("map type %s->%s not covered by the test", kt, vt)
	}
	return get(t, c, addr)
}

func mapAny[K comparable, V any](m map[K]*V, err error) (map[string]any, error) {
	out := make(map[string]any, len(m))
	for k, v := range m {
		var a any
		if v != nil {
			a = *v
		}
		out[fmt.Sprint(k)] = a
	}
	return out, err
}

// TestGoldenKeys: the typed look-ups and KeyText send the key bytes and the
// Java hashCode Flink's client sends for the same key.
func TestGoldenKeys(t *testing.T) {
	srv := newContentServer(t)
	c := newClient(t, Config{})
	n := 0
	for _, v := range vectors.MustKind(t, "request_frame") {
		typ := v.Str("key_type")
		if v.Str("namespace_type") != "void" || !supported(typ) || typ == "bytes" {
			continue
		}
		n++
		t.Run(v.Name, func(t *testing.T) {
			bits := ""
			if v.Has("key_bits_hex") {
				bits = v.Str("key_bits_hex")
			}
			key := typedValue(t, typ, v.Fields["key"], bits)
			var job [16]byte
			copy(job[:], v.Hex("job_id_hex"))
			name := v.Str("state_name")
			wantKV, wantHash := v.Hex("key_and_namespace_hex"), int32(v.Int("key_hash"))
			srv.answer([]byte{0, 0, 0, 1}, nil)
			ctx := testCtx(t)
			var err error
			switch k := key.(type) {
			case int32:
				_, err = GetValue(ctx, c, srv.Addr(), job, name, state.Int, k, state.Int)
			case int64:
				_, err = GetValue(ctx, c, srv.Addr(), job, name, state.Long, k, state.Int)
			case string:
				_, err = GetValue(ctx, c, srv.Addr(), job, name, state.String, k, state.Int)
			case bool:
				_, err = GetValue(ctx, c, srv.Addr(), job, name, state.Boolean, k, state.Int)
			case float64:
				_, err = GetValue(ctx, c, srv.Addr(), job, name, state.Double, k, state.Int)
			}
			if err != nil {
				t.Fatal(err)
			}
			r := srv.last()
			if r.JobID != job || string(r.StateName) != name || r.KeyHash != wantHash || !bytes.Equal(r.KeyAndNamespace, wantKV) {
				t.Errorf("sent job %x name %q hash %d kv %x; want %x %q %d %x", r.JobID, r.StateName, r.KeyHash, r.KeyAndNamespace, job, name, wantHash, wantKV)
			}
			tt, _ := ParseType(typ)
			text := formatValue(key)
			if typ == "double" {
				text = v.Str("key_java")
			}
			kv, hash, err := KeyText(tt, text)
			if err != nil || hash != wantHash || !bytes.Equal(kv, wantKV) {
				t.Errorf("KeyText(%v, %q) = %x, %d, %v; want %x, %d", tt, text, kv, hash, err, wantKV, wantHash)
			}
		})
	}
	if n < 10 {
		t.Errorf("only %d request vectors with typed keys", n)
	}
}

// TestTypedFailures: typed look-ups pass request failures through and
// report content that does not decode.
func TestTypedFailures(t *testing.T) {
	srv := newContentServer(t)
	c := newClient(t, Config{})
	ctx := testCtx(t)

	srv.answer(nil, codec.NewUnknownKeyOrNamespace(codec.ServerName))
	if _, err := GetValue(ctx, c, srv.Addr(), testJob, "s", state.String, "k", state.Long); !errors.Is(err, codec.ErrUnknownKeyOrNamespace) {
		t.Errorf("GetValue: err = %v, want codec.ErrUnknownKeyOrNamespace", err)
	}
	if _, err := GetList(ctx, c, srv.Addr(), testJob, "s", state.String, "k", state.Long); !errors.Is(err, codec.ErrUnknownKeyOrNamespace) {
		t.Errorf("GetList: err = %v, want codec.ErrUnknownKeyOrNamespace", err)
	}
	if _, err := GetMap(ctx, c, srv.Addr(), testJob, "s", state.String, "k", state.Long, state.Long); !errors.Is(err, codec.ErrUnknownKeyOrNamespace) {
		t.Errorf("GetMap: err = %v, want codec.ErrUnknownKeyOrNamespace", err)
	}

	cases := []struct {
		name    string
		content []byte
		get     func() error
	}{
		{"value with unconsumed bytes", []byte{0, 0, 0, 0, 0, 0, 0, 1, 9}, func() error {
			_, err := GetValue(ctx, c, srv.Addr(), testJob, "s", state.String, "k", state.Long)
			return err
		}},
		{"truncated value", []byte{0, 0, 1}, func() error {
			_, err := GetValue(ctx, c, srv.Addr(), testJob, "s", state.String, "k", state.Long)
			return err
		}},
		{"truncated list element", []byte{0, 0, 0, 1, ',', 0, 0}, func() error {
			_, err := GetList(ctx, c, srv.Addr(), testJob, "s", state.String, "k", state.Int)
			return err
		}},
		{"map entry without null flag", []byte{0, 0, 0, 1}, func() error {
			_, err := GetMap(ctx, c, srv.Addr(), testJob, "s", state.String, "k", state.Int, state.Int)
			return err
		}},
	}
	for _, tc := range cases {
		srv.answer(tc.content, nil)
		if err := tc.get(); !errors.Is(err, ErrDecode) {
			t.Errorf("%s: err = %v, want ErrDecode", tc.name, err)
		}
	}
}

// TestTextHelpers covers the parsing side of the text helpers.
func TestTextHelpers(t *testing.T) {
	id, err := ParseJobID("5906ea8d8940842f9e05aedddc8517ea")
	if err != nil || id != testJob {
		t.Errorf("ParseJobID = %x, %v", id, err)
	}
	for _, bad := range []string{"", "5906ea8d", "5906ea8d8940842f9e05aedddc8517eg", "5906ea8d8940842f9e05aedddc8517ea00"} {
		if _, err := ParseJobID(bad); !errors.Is(err, ErrBadArgument) {
			t.Errorf("ParseJobID(%q): err = %v, want ErrBadArgument", bad, err)
		}
	}
	for tt := TypeInt; tt <= TypeBytes; tt++ {
		if got, err := ParseType(tt.String()); err != nil || got != tt {
			t.Errorf("ParseType(%q) = %v, %v", tt.String(), got, err)
		}
	}
	for k := KindValue; k <= KindMap; k++ {
		if got, err := ParseKind(k.String()); err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v", k.String(), got, err)
		}
	}
	if _, err := ParseType("float"); !errors.Is(err, ErrBadArgument) {
		t.Errorf("ParseType(float): %v", err)
	}
	if _, err := ParseKind("reducing"); !errors.Is(err, ErrBadArgument) {
		t.Errorf("ParseKind(reducing): %v", err)
	}
	for _, bad := range []struct {
		t    Type
		text string
	}{{TypeInt, "x"}, {TypeInt, "4294967296"}, {TypeLong, "1.5"}, {TypeBoolean, "yes"}, {TypeDouble, "one"}, {TypeBytes, "00"}, {0, "1"}} {
		if _, _, err := KeyText(bad.t, bad.text); !errors.Is(err, ErrBadArgument) {
			t.Errorf("KeyText(%v, %q): err = %v, want ErrBadArgument", bad.t, bad.text, err)
		}
	}
	// A Java null string inside a list prints as null.
	lines, err := FormatContent([]byte{0x02, 'a', ',', 0x00}, KindList, TypeString, 0)
	if err != nil || !slices.Equal(lines, []string{"a", "null"}) {
		t.Errorf("FormatContent(null string) = %q, %v", lines, err)
	}
	// Map keys sort numerically, not as text.
	var m []byte
	for _, k := range []int32{10, -2, 9} {
		m = state.Int.Append(m, k)
		m = append(m, 0)
		m = state.Long.Append(m, int64(k)*100)
	}
	lines, err = FormatContent(m, KindMap, TypeLong, TypeInt)
	if want := []string{"-2=-200", "9=900", "10=1000"}; err != nil || !slices.Equal(lines, want) {
		t.Errorf("FormatContent(map) = %q, %v; want %q", lines, err, want)
	}
	// Byte-array map keys are allowed and print in hex.
	m = state.Bytes.Append(nil, []byte{0xbe, 0xef})
	m = append(m, 1)
	lines, err = FormatContent(m, KindMap, TypeInt, TypeBytes)
	if err != nil || !slices.Equal(lines, []string{"beef=null"}) {
		t.Errorf("FormatContent(bytes key) = %q, %v", lines, err)
	}
	if _, err := FormatContent([]byte{1, 2}, KindValue, TypeInt, 0); !errors.Is(err, ErrDecode) {
		t.Errorf("FormatContent(short int): err = %v, want ErrDecode", err)
	}
	if _, err := FormatContent(nil, Kind(9), TypeInt, 0); !errors.Is(err, ErrBadArgument) {
		t.Errorf("FormatContent(bad kind): err = %v, want ErrBadArgument", err)
	}
	if got := strconv.Quote(formatValue(math.Inf(-1))); got != `"-Inf"` {
		t.Errorf("formatValue(-Inf) = %s", got)
	}
}
