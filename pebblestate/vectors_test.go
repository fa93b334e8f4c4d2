package pebblestate

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"slices"
	"testing"

	"github.com/qstate/qstate/internal/vectors"
	"github.com/qstate/qstate/state"
)

// answerOf stores v in a fresh ValueState of d named name under key 7 and
// returns the query's answer.
func answerOf[V any](t *testing.T, d *DB, name string, s state.Serializer[V], v V) []byte {
	t.Helper()
	vs, err := NewValueState(d, name, state.Int, state.Void, s)
	must(t, err)
	must(t, vs.Void().Update(7, v))
	must(t, d.Commit())
	ans, found, err := vs.Get(kn(state.Int, 7, state.Void, state.VoidNamespace{}))
	if err != nil || !found {
		t.Fatalf("%s: Get = %v, %v", name, found, err)
	}
	return ans
}

func decodeJSON[V any](t *testing.T, v vectors.Vector, field string) V {
	var x V
	v.Decode(field, &x)
	return x
}

// TestVectorsValue: a ValueState on Pebble answers each golden value
// vector's bytes, Flink's serialization, byte for byte (P1).
func TestVectorsValue(t *testing.T) {
	d, _ := openTemp(t, Options{})
	checked := 0
	for _, v := range vectors.MustKind(t, "value") {
		var got []byte
		switch typ := v.Str("value_type"); typ {
		case "int":
			got = answerOf(t, d, v.Name, state.Int, decodeJSON[int32](t, v, "value"))
		case "long":
			got = answerOf(t, d, v.Name, state.Long, decodeJSON[int64](t, v, "value"))
		case "string":
			got = answerOf(t, d, v.Name, state.String, decodeJSON[string](t, v, "value"))
		case "boolean":
			got = answerOf(t, d, v.Name, state.Boolean, decodeJSON[bool](t, v, "value"))
		case "bytes":
			b, err := hex.DecodeString(decodeJSON[string](t, v, "value"))
			must(t, err)
			got = answerOf(t, d, v.Name, state.Bytes, b)
		case "double":
			// The JSON holds Java's text for specials; read the value from the bytes.
			f, _, err := state.Double.Read(v.Hex("hex"))
			must(t, err)
			got = answerOf(t, d, v.Name, state.Double, f)
		default:
			continue // tuples: covered by package state
		}
		if want := v.Hex("hex"); !bytes.Equal(got, want) {
			t.Errorf("%s: %x, want %x", v.Name, got, want)
		}
		checked++
	}
	if checked < 10 {
		t.Fatalf("only %d value vectors checked", checked)
	}
}

func checkListVector[T any](t *testing.T, d *DB, v vectors.Vector, s state.Serializer[T], elems []T) {
	t.Helper()
	kq := kn(state.Int, 7, state.Void, state.VoidNamespace{})
	want := v.Hex("hex")
	// Built by Update, and by one Add (a merge operand) per element.
	for i, name := range []string{v.Name + "/update", v.Name + "/add"} {
		ls, err := NewListState(d, name, state.Int, state.Void, s)
		must(t, err)
		if i == 0 {
			must(t, ls.Void().Update(7, elems))
		} else {
			for _, e := range elems {
				must(t, ls.Void().Add(7, e))
				must(t, d.Commit()) // separate operands, merged by the read
			}
		}
		must(t, d.Commit())
		ans, found, err := ls.Get(kq)
		if err != nil || found != (len(elems) > 0) || !bytes.Equal(ans, want) {
			t.Errorf("%s: %x, %v, %v; want %x", name, ans, found, err, want)
		}
	}
}

// TestVectorsList: a ListState on Pebble answers each golden list's bytes,
// whether written at once or merged from one operand per element (P1).
func TestVectorsList(t *testing.T) {
	d, _ := openTemp(t, Options{})
	for _, v := range vectors.MustKind(t, "list") {
		switch typ := v.Str("element_type"); typ {
		case "int":
			checkListVector(t, d, v, state.Int, decodeJSON[[]int32](t, v, "elements"))
		case "long":
			checkListVector(t, d, v, state.Long, decodeJSON[[]int64](t, v, "elements"))
		case "string":
			checkListVector(t, d, v, state.String, decodeJSON[[]string](t, v, "elements"))
		case "boolean":
			checkListVector(t, d, v, state.Boolean, decodeJSON[[]bool](t, v, "elements"))
		case "bytes":
			var elems [][]byte
			for _, h := range decodeJSON[[]string](t, v, "elements") {
				b, err := hex.DecodeString(h)
				must(t, err)
				elems = append(elems, b)
			}
			checkListVector(t, d, v, state.Bytes, elems)
		default:
			t.Fatalf("element type %q", typ)
		}
	}
}

func checkMapVector[UK comparable, UV any](t *testing.T, d *DB, v vectors.Vector, uks state.KeySerializer[UK], uvs state.Serializer[UV], conv func(json.RawMessage) UV) bool {
	t.Helper()
	var raw [][2]json.RawMessage
	v.Decode("entries", &raw)
	ms, err := NewMapState(d, v.Name, state.Int, state.Void, uks, uvs)
	must(t, err)
	var segs []string
	for _, e := range raw {
		if string(e[1]) == "null" {
			return false // the typed MapState holds no null values (as the heap one)
		}
		var uk UK
		if err := json.Unmarshal(e[0], &uk); err != nil {
			t.Fatal(err)
		}
		var uv UV
		if conv != nil {
			uv = conv(e[1])
		} else if err := json.Unmarshal(e[1], &uv); err != nil {
			t.Fatal(err)
		}
		must(t, ms.Void().Put(7, uk, uv))
		segs = append(segs, string(state.AppendMapEntries(nil, uks, uvs, []state.MapEntry[UK, UV]{{Key: uk, Value: &uv}})))
	}
	must(t, d.Commit())
	// Flink's bytes per entry; Pebble orders the entries by serialized user key.
	slices.Sort(segs)
	want := []byte(nil)
	for _, s := range segs {
		want = append(want, s...)
	}
	if len(raw) <= 1 && !bytes.Equal(want, v.Hex("hex")) {
		t.Fatalf("%s: test's expectation %x differs from the vector %x", v.Name, want, v.Hex("hex"))
	}
	ans, found, err := ms.Get(kn(state.Int, 7, state.Void, state.VoidNamespace{}))
	if err != nil || found != (len(raw) > 0) || !bytes.Equal(ans, want) {
		t.Errorf("%s: %x, %v, %v; want %x", v.Name, ans, found, err, want)
	}
	return true
}

// TestVectorsMap: a MapState on Pebble answers the golden maps' entries,
// each entry's bytes as Flink's (in user-key order); maps with null
// values are left out (no typed MapState holds them) (P1).
func TestVectorsMap(t *testing.T) {
	d, _ := openTemp(t, Options{})
	checked := 0
	for _, v := range vectors.MustKind(t, "map") {
		var ok bool
		switch kt, vt := v.Str("key_type"), v.Str("value_type"); kt + "->" + vt {
		case "string->int":
			ok = checkMapVector(t, d, v, state.String, state.Int, nil)
		case "int->string":
			ok = checkMapVector(t, d, v, state.Int, state.String, nil)
		case "long->long":
			ok = checkMapVector(t, d, v, state.Long, state.Long, nil)
		case "int->int":
			ok = checkMapVector(t, d, v, state.Int, state.Int, nil)
		case "string->string":
			ok = checkMapVector(t, d, v, state.String, state.String, nil)
		case "string->bytes":
			ok = checkMapVector(t, d, v, state.String, state.Bytes, func(raw json.RawMessage) []byte {
				var h string
				_ = json.Unmarshal(raw, &h)
				b, _ := hex.DecodeString(h)
				return b
			})
		default:
			t.Fatalf("map type %s->%s", kt, vt)
		}
		if ok {
			checked++
		}
	}
	if checked < 3 {
		t.Fatalf("only %d map vectors checked", checked)
	}
}
