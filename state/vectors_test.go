package state

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strconv"
	"testing"

	"github.com/qstate/qstate/internal/vectors"
)

// typed is one typed value of a vector with its serializer, type-erased so
// that one table drives every type.
type typed struct {
	typ    string
	val    any
	append func(dst []byte) []byte
	read   func(b []byte) (any, []byte, error)
	skip   func(b []byte) ([]byte, bool, error)
	eq     func(a, b any) bool
	hash   func() int32 // nil when the type is not a key type
	// getFromState stores the value as a key in a ValueState with the
	// namespace ns and returns what Get answers for kn (nil for non-keys).
	getFromState func(t *testing.T, ns typed, kn []byte) ([]byte, bool, error)
}

func erased[T any](typ string, s Serializer[T], v T, eq func(a, b T) bool) typed {
	if eq == nil {
		eq = func(a, b T) bool { return reflect.DeepEqual(a, b) }
	}
	return typed{
		typ:    typ,
		val:    v,
		append: func(dst []byte) []byte { return s.Append(dst, v) },
		read: func(b []byte) (any, []byte, error) {
			x, rest, err := s.Read(b)
			return x, rest, err
		},
		skip: func(b []byte) ([]byte, bool, error) { return s.(Skipper).Skip(b) },
		eq:   func(a, b any) bool { return eq(a.(T), b.(T)) },
	}
}

func keyed[K any](typ string, ks KeySerializer[K], k K, eq func(a, b K) bool) typed {
	tc := erased(typ, Serializer[K](ks), k, eq)
	tc.hash = func() int32 { return ks.HashCode(k) }
	tc.getFromState = func(t *testing.T, ns typed, kn []byte) ([]byte, bool, error) {
		switch n := ns.val.(type) {
		case VoidNamespace:
			return getVia(ks, Void, k, n, kn)
		case string:
			return getVia(ks, String, k, n, kn)
		case int64:
			return getVia(ks, Long, k, n, kn)
		}
		t.Fatalf("namespace type %T", ns.val)
		return nil, false, nil
	}
	return tc
}

// getVia stores a marker value under (k, n) in a fresh ValueState and asks
// Get for kn.
func getVia[K, N any](ks KeySerializer[K], ns Serializer[N], k K, n N, kn []byte) ([]byte, bool, error) {
	s := NewValueState(ks, ns, Int)
	s.Update(k, n, 0x01020304)
	return s.Get(kn)
}

func eqDouble(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }

// keyedJSON decodes raw (a JSON value) into a K and returns it as a typed
// serialized by ks.
func keyedJSON[K any](t *testing.T, raw json.RawMessage, typ string, ks KeySerializer[K]) typed {
	t.Helper()
	var x K
	mustJSON(t, raw, &x)
	return keyed(typ, ks, x, nil)
}

// keyedTuple2JSON decodes raw (a JSON array of two fields) into a
// Tuple2[A, B] and returns it as a typed serialized by Tuple2Of(a, b).
func keyedTuple2JSON[A, B any](t *testing.T, raw json.RawMessage, typ string, a KeySerializer[A], b KeySerializer[B]) typed {
	t.Helper()
	var f []json.RawMessage
	mustJSON(t, raw, &f)
	var x Tuple2[A, B]
	mustJSON(t, f[0], &x.F0)
	mustJSON(t, f[1], &x.F1)
	return keyed(typ, Tuple2Of(a, b), x, nil)
}

// decodeTyped decodes field of v (typ from the vectors README) into a typed.
func decodeTyped(t *testing.T, v vectors.Vector, field, typ string) typed {
	t.Helper()
	raw := v.Fields[field]
	switch typ {
	case "int":
		return keyedJSON(t, raw, typ, Int)
	case "long":
		return keyedJSON(t, raw, typ, Long)
	case "string":
		return keyedJSON(t, raw, typ, String)
	case "boolean":
		return keyedJSON(t, raw, typ, Boolean)
	case "double":
		x := math.Float64frombits(beUint64(t, v.Hex(field+"_bits_hex")))
		return keyed(typ, Double, x, eqDouble)
	case "bytes":
		var h string
		mustJSON(t, raw, &h)
		x, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		return erased(typ, Bytes, x, bytes.Equal)
	case "tuple2<int,string>":
		return keyedTuple2JSON(t, raw, typ, Int, String)
	case "tuple2<long,long>":
		return keyedTuple2JSON(t, raw, typ, Long, Long)
	case "void":
		if string(raw) != "null" {
			t.Fatalf("void namespace %s", raw)
		}
		return erased(typ, Void, VoidNamespace{}, nil)
	}
	t.Fatalf("%s %q: unknown type %q", v.Kind, v.Name, typ)
	return typed{}
}

func mustJSON(t *testing.T, raw json.RawMessage, out any) {
	t.Helper()
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
}

func beUint64(t *testing.T, b []byte) uint64 {
	t.Helper()
	if len(b) != 8 {
		t.Fatalf("bits %x", b)
	}
	var x uint64
	for _, c := range b {
		x = x<<8 | uint64(c)
	}
	return x
}

// checkTyped asserts that tc serializes to want and reads back to itself,
// with nothing left over, and that Skip agrees (canonical: no recode).
func checkTyped(t *testing.T, what string, tc typed, want []byte) {
	t.Helper()
	if got := tc.append(nil); !bytes.Equal(got, want) {
		t.Errorf("%s: Append = %x, want %x", what, got, want)
	}
	// Appending to a non-empty dst keeps dst.
	if got := tc.append([]byte{0xee}); !bytes.Equal(got, append([]byte{0xee}, want...)) {
		t.Errorf("%s: Append to a prefix = %x", what, got)
	}
	got, rest, err := tc.read(append(want[:len(want):len(want)], 0x99))
	if err != nil || !bytes.Equal(rest, []byte{0x99}) || !tc.eq(got, tc.val) {
		t.Errorf("%s: Read(%x ‖ 99) = %#v, rest %x, %v; want %#v, rest 99", what, want, got, rest, err, tc.val)
	}
	rest, recode, err := tc.skip(append(want[:len(want):len(want)], 0x99))
	if err != nil || recode || !bytes.Equal(rest, []byte{0x99}) {
		t.Errorf("%s: Skip = rest %x, recode %v, %v", what, rest, recode, err)
	}
	// Every proper prefix is truncated.
	for i := 0; i < len(want); i++ {
		if _, _, err := tc.read(want[:i]); err == nil {
			t.Errorf("%s: Read of %d of %d bytes: no error", what, i, len(want))
		}
		if _, _, err := tc.skip(want[:i]); err == nil {
			t.Errorf("%s: Skip of %d of %d bytes: no error", what, i, len(want))
		}
	}
}

// anySer turns a typed into a Serializer[any], to drive the generic
// key-and-namespace functions from the table.
type anySer struct{ tc typed }

func (s anySer) Append(dst []byte, _ any) []byte     { return s.tc.append(dst) }
func (s anySer) Read(b []byte) (any, []byte, error)  { return s.tc.read(b) }
func (s anySer) Skip(b []byte) ([]byte, bool, error) { return s.tc.skip(b) }

func TestVectorsKeyAndNamespace(t *testing.T) {
	for _, v := range vectors.MustKind(t, "key_and_namespace") {
		t.Run(v.Name, func(t *testing.T) {
			k := decodeTyped(t, v, "key", v.Str("key_type"))
			n := decodeTyped(t, v, "namespace", v.Str("namespace_type"))
			want := v.Hex("hex")
			checkTyped(t, "key", k, v.Hex("key_hex"))
			checkTyped(t, "namespace", n, v.Hex("namespace_hex"))
			if m := v.Hex("magic_hex"); len(m) != 1 || m[0] != Magic {
				t.Fatalf("magic_hex %x", m)
			}
			ks, ns := anySer{k}, anySer{n}
			if got := AppendKeyAndNamespace[any, any](nil, ks, k.val, ns, n.val); !bytes.Equal(got, want) {
				t.Errorf("AppendKeyAndNamespace = %x, want %x", got, want)
			}
			gk, gn, err := ReadKeyAndNamespace[any, any](ks, ns, want)
			if err != nil || !k.eq(gk, k.val) || !n.eq(gn, n.val) {
				t.Errorf("ReadKeyAndNamespace = %#v, %#v, %v", gk, gn, err)
			}
			if k.getFromState != nil {
				// A heap state keyed by the Go value answers Flink's bytes.
				got, found, err := k.getFromState(t, n, want)
				if err != nil || !found || !bytes.Equal(got, []byte{1, 2, 3, 4}) {
					t.Errorf("state Get(%x) = %x, %v, %v", want, got, found, err)
				}
			}
		})
	}
}

func TestVectorsValue(t *testing.T) {
	for _, v := range vectors.MustKind(t, "value") {
		t.Run(v.Name, func(t *testing.T) {
			checkTyped(t, "value", decodeTyped(t, v, "value", v.Str("value_type")), v.Hex("hex"))
		})
	}
}

func TestVectorsList(t *testing.T) {
	for _, v := range vectors.MustKind(t, "list") {
		t.Run(v.Name, func(t *testing.T) {
			want := v.Hex("hex")
			switch typ := v.Str("element_type"); typ {
			case "int":
				checkList(t, v, Int, want)
			case "long":
				checkList(t, v, Long, want)
			case "string":
				checkList(t, v, String, want)
			case "boolean":
				checkList(t, v, Boolean, want)
			case "bytes":
				var hs []string
				v.Decode("elements", &hs)
				var elems [][]byte
				for _, h := range hs {
					b, _ := hex.DecodeString(h)
					elems = append(elems, b)
				}
				checkListElems(t, Bytes, elems, want)
			default:
				t.Fatalf("element type %q", typ)
			}
		})
	}
}

func checkList[T any](t *testing.T, v vectors.Vector, s Serializer[T], want []byte) {
	t.Helper()
	var elems []T
	v.Decode("elements", &elems)
	checkListElems(t, s, elems, want)
}

func checkListElems[T any](t *testing.T, s Serializer[T], elems []T, want []byte) {
	t.Helper()
	if got := AppendList(nil, s, elems); !bytes.Equal(got, want) {
		t.Errorf("AppendList(%v) = %x, want %x", elems, got, want)
	}
	got, err := ReadList(s, want)
	if err != nil || len(got) != len(elems) || (len(elems) > 0 && !reflect.DeepEqual(got, elems)) {
		t.Errorf("ReadList(%x) = %v, %v; want %v", want, got, err, elems)
	}
	// A ListState holding the elements answers exactly these bytes; an
	// empty list is no state.
	ls := NewListState(Int, Void, s)
	ls.Update(7, VoidNamespace{}, elems)
	kn := AppendKeyAndNamespace(nil, Int, 7, Void, VoidNamespace{})
	ans, found, err := ls.Get(kn)
	if err != nil || found != (len(elems) > 0) || !bytes.Equal(ans, want) {
		t.Errorf("ListState.Get = %x, %v, %v; want %x", ans, found, err, want)
	}
	// Built one Add at a time, the answer is the same.
	ls2 := NewListState(Int, Void, s)
	for _, e := range elems {
		ls2.Add(7, VoidNamespace{}, e)
	}
	ans, found, err = ls2.Get(kn)
	if err != nil || found != (len(elems) > 0) || !bytes.Equal(ans, want) {
		t.Errorf("ListState.Add... Get = %x, %v, %v; want %x", ans, found, err, want)
	}
}

func TestVectorsMap(t *testing.T) {
	for _, v := range vectors.MustKind(t, "map") {
		t.Run(v.Name, func(t *testing.T) {
			want := v.Hex("hex")
			switch kt, vt := v.Str("key_type"), v.Str("value_type"); kt + "->" + vt {
			case "string->int":
				checkMap(t, v, String, Int, want, nil)
			case "int->string":
				checkMap(t, v, Int, String, want, nil)
			case "long->long":
				checkMap(t, v, Long, Long, want, nil)
			case "int->int":
				checkMap(t, v, Int, Int, want, nil)
			case "string->string":
				checkMap(t, v, String, String, want, nil)
			case "string->bytes":
				checkMap(t, v, String, Bytes, want, func(raw json.RawMessage) []byte {
					var h string
					mustJSON(t, raw, &h)
					b, _ := hex.DecodeString(h)
					return b
				})
			default:
				t.Fatalf("map type %s->%s", kt, vt)
			}
		})
	}
}

func checkMap[K comparable, V any](t *testing.T, v vectors.Vector, ks KeySerializer[K], vs Serializer[V], want []byte, conv func(json.RawMessage) V) {
	t.Helper()
	var raw [][2]json.RawMessage
	v.Decode("entries", &raw)
	var entries []MapEntry[K, V]
	for _, e := range raw {
		var me MapEntry[K, V]
		mustJSON(t, e[0], &me.Key)
		if string(e[1]) != "null" {
			var x V
			if conv != nil {
				x = conv(e[1])
			} else {
				mustJSON(t, e[1], &x)
			}
			me.Value = &x
		}
		entries = append(entries, me)
	}
	if got := AppendMapEntries(nil, ks, vs, entries); !bytes.Equal(got, want) {
		t.Errorf("AppendMapEntries = %x, want %x", got, want)
	}
	got, err := ReadMap(ks, vs, want)
	if err != nil || len(got) != len(entries) {
		t.Fatalf("ReadMap(%x) = %v, %v", want, got, err)
	}
	nonNull := map[K]V{}
	for _, e := range entries {
		g, ok := got[e.Key]
		if !ok || (g == nil) != (e.Value == nil) || (g != nil && !reflect.DeepEqual(*g, *e.Value)) {
			t.Errorf("ReadMap entry %v = %v, want %v", e.Key, g, e.Value)
		}
		if e.Value != nil {
			nonNull[e.Key] = *e.Value
		}
	}
	if len(nonNull) != len(entries) {
		return // null values: the heap MapState holds none
	}
	// A MapState and AppendMap give content that reads back to the same map
	// (order is Go's map order, which Flink's HashMap reader ignores).
	ms := NewMapState(Int, Void, ks, vs)
	ms.PutAll(1, VoidNamespace{}, nonNull)
	ans, found, err := ms.Get(AppendKeyAndNamespace(nil, Int, 1, Void, VoidNamespace{}))
	if err != nil || found != (len(nonNull) > 0) {
		t.Fatalf("MapState.Get = %x, %v, %v", ans, found, err)
	}
	for name, b := range map[string][]byte{"MapState": ans, "AppendMap": AppendMap(nil, ks, vs, nonNull)} {
		back, err := ReadMap(ks, vs, b)
		if err != nil || len(back) != len(nonNull) {
			t.Fatalf("%s content %x reads as %v, %v", name, b, back, err)
		}
		for k, x := range nonNull {
			if back[k] == nil || !reflect.DeepEqual(*back[k], x) {
				t.Errorf("%s content: %v = %v, want %v", name, k, back[k], x)
			}
		}
		if len(nonNull) == 1 && !bytes.Equal(b, want) {
			t.Errorf("%s content = %x, want %x", name, b, want)
		}
	}
}

func TestVectorsKeyGroupHashCode(t *testing.T) {
	for _, v := range vectors.MustKind(t, "key_group") {
		t.Run(v.Name, func(t *testing.T) {
			k := decodeTyped(t, v, "key", v.Str("key_type"))
			if k.hash == nil {
				t.Fatalf("%s is not a key type", k.typ)
			}
			want := int32(v.Int("java_hash"))
			if h := v.Hex("java_hash_hex"); len(h) != 4 || int32(uint32(h[0])<<24|uint32(h[1])<<16|uint32(h[2])<<8|uint32(h[3])) != want {
				t.Fatalf("java_hash_hex %x != java_hash %d", h, want)
			}
			if got := k.hash(); got != want {
				t.Errorf("HashCode(%v) = %d, want %d", k.val, got, want)
			}
		})
	}
}

// TestProtocolStringExamples checks the table of PROTOCOL.md §5.4.
func TestProtocolStringExamples(t *testing.T) {
	cases := []struct {
		s   string
		hex string
	}{
		{"", "01"},
		{"hello", "0668656c6c6f"},
		{"ü", "02fc01"},
		{"€", "02ac41"},
		{"a€", "0361ac41"},
		{"😀", "03bdb00380bc03"},
	}
	for _, c := range cases {
		want, _ := hex.DecodeString(c.hex)
		checkTyped(t, strconv.Quote(c.s), erased("string", String, c.s, nil), want)
	}
	x127 := String.Append(nil, string(bytes.Repeat([]byte("x"), 127)))
	if len(x127) != 129 || !bytes.Equal(x127[:2], []byte{0x80, 0x01}) || x127[2] != 'x' {
		t.Errorf("127 x \"x\": %d bytes, prefix %x", len(x127), x127[:3])
	}
	y300 := String.Append(nil, string(bytes.Repeat([]byte("y"), 300)))
	if len(y300) != 302 || !bytes.Equal(y300[:2], []byte{0xad, 0x02}) {
		t.Errorf("300 x \"y\": %d bytes, prefix %x", len(y300), y300[:2])
	}
	// null is one 0x00 byte: no Go string, ErrNull.
	if _, _, err := String.Read([]byte{0}); !errors.Is(err, ErrNull) {
		t.Errorf("Read(00) error %v, want ErrNull", err)
	}
}

// TestProtocolHashTable checks the hashCode column of PROTOCOL.md §5.5.
func TestProtocolHashTable(t *testing.T) {
	cases := []struct {
		name string
		got  int32
		want int32
	}{
		{`"hello"`, String.HashCode("hello"), 99162322},
		{`""`, String.HashCode(""), 0},
		{`"a"`, String.HashCode("a"), 97},
		{`"query-name"`, String.HashCode("query-name"), -214515600},
		{`"ü"`, String.HashCode("ü"), 252},
		{`"€"`, String.HashCode("€"), 8364},
		{`"😀"`, String.HashCode("😀"), 1772899},
		{"Integer 42", Int.HashCode(42), 42},
		{"Integer -7", Int.HashCode(-7), -7},
		{"Long 1", Long.HashCode(1), 1},
		{"Long -1", Long.HashCode(-1), 0},
		{"Long 4294967296", Long.HashCode(4294967296), 1},
		{"Boolean true", Boolean.HashCode(true), 1231},
		{"Boolean false", Boolean.HashCode(false), 1237},
		{"Double 1.5", Double.HashCode(1.5), 1073217536},
		{"Double -0.0", Double.HashCode(math.Copysign(0, -1)), -2147483648},
		{"Double NaN", Double.HashCode(math.NaN()), 2146959360},
		{"Float 1.5", Float.HashCode(1.5), 1069547520},
		{"Short -1", Short.HashCode(-1), -1},
		{"Byte -1", Byte.HashCode(-1), -1},
		{"Character 'A'", Char.HashCode('A'), 65},
		{`Tuple2("a",1L)`, Tuple2Of(String, Long).HashCode(Tuple2[string, int64]{"a", 1}), 3008},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s: hashCode %d, want %d", c.name, c.got, c.want)
		}
	}
}
