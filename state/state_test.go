package state

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"testing"
)

func knVoid[K any](ks Serializer[K], k K) []byte {
	return AppendKeyAndNamespace(nil, ks, k, Void, VoidNamespace{})
}

func expectGet(t *testing.T, s KvState, kn []byte, want []byte, wantFound bool) {
	t.Helper()
	got, found, err := s.Get(kn)
	if err != nil || found != wantFound || !bytes.Equal(got, want) {
		t.Errorf("Get(%x) = %x, %v, %v; want %x, %v, nil", kn, got, found, err, want, wantFound)
	}
}

func expectBad(t *testing.T, s KvState, kn []byte) {
	t.Helper()
	got, found, err := s.Get(kn)
	if !errors.Is(err, ErrBadKeyAndNamespace) || found || got != nil {
		t.Errorf("Get(%x) = %x, %v, %v; want ErrBadKeyAndNamespace", kn, got, found, err)
	}
}

func TestValueStateGet(t *testing.T) {
	s := NewValueState(String, Void, Long)
	v := s.Void()
	v.Update("alice", 7)
	v.Update("bob", 9)
	v.Update("alice", 8) // replaces
	expectGet(t, s, knVoid(String, "alice"), Long.Append(nil, 8), true)
	expectGet(t, s, knVoid(String, "bob"), Long.Append(nil, 9), true)
	// A key that parses but is absent: not found, no error (I3).
	expectGet(t, s, knVoid(String, "carol"), nil, false)
	if x, ok := v.Value("alice"); !ok || x != 8 {
		t.Errorf("Value(alice) = %d, %v", x, ok)
	}
	if _, ok := v.Value("carol"); ok {
		t.Error("Value(carol) found")
	}
	if s.Len() != 2 {
		t.Errorf("Len = %d", s.Len())
	}
	v.Clear("alice")
	v.Clear("nobody")
	expectGet(t, s, knVoid(String, "alice"), nil, false)
	if _, ok := v.Value("alice"); ok || s.Len() != 1 {
		t.Errorf("after Clear: Value found %v, Len %d", ok, s.Len())
	}
}

func TestGetBadKeyAndNamespace(t *testing.T) {
	s := NewValueState(String, Void, Long)
	s.Update("k", VoidNamespace{}, 1)
	good := knVoid(String, "k")
	expectGet(t, s, good, Long.Append(nil, 1), true)
	for name, kn := range map[string][]byte{
		"empty":             nil,
		"null key":          {0x00, Magic, 0x00},
		"truncated key":     {0x05, 'a', 'b'},
		"no magic":          {0x02, 'k'},
		"wrong magic":       {0x02, 'k', 0x2b, 0x00},
		"no namespace":      {0x02, 'k', Magic},
		"unconsumed":        {0x02, 'k', Magic, 0x00, 0x00},
		"negative length":   {0xff, 0xff, 0xff, 0xff, 0x0f, Magic, 0x00},
		"truncated varint":  {0x80},
		"bad unit varint":   {0x02, 0x80},
		"length over bytes": {0x7f, 'a', Magic, 0},
	} {
		t.Run(name, func(t *testing.T) { expectBad(t, s, kn) })
	}
	// The wrapped text names the cause as Flink does.
	_, _, err := s.Get([]byte{0x02, 'k', 0x07, 0x00})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("Unexpected magic number 7.")) {
		t.Errorf("wrong magic error %v", err)
	}
	_, _, err = s.Get(append(good[:len(good):len(good)], 1))
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("Unconsumed bytes")) {
		t.Errorf("unconsumed error %v", err)
	}
	// Namespace serializer mismatch: a String-namespace query on a Void state.
	expectBad(t, s, AppendKeyAndNamespace(nil, String, "k", String, "ns"))
}

// TestGetRecode checks that bytes Flink's readers accept in a form Flink's
// writers never produce find the same state, as Flink (which deserializes
// the key and namespace) would.
func TestGetRecode(t *testing.T) {
	sb := NewValueState(Boolean, Void, Int)
	sb.Update(true, VoidNamespace{}, 5)
	expectGet(t, sb, []byte{0x02, Magic, 0x00}, Int.Append(nil, 5), true) // readBoolean: non-zero is true
	expectGet(t, sb, []byte{0x01, Magic, 0x07}, Int.Append(nil, 5), true) // VoidNamespace: any byte
	expectGet(t, sb, []byte{0x00, Magic, 0x00}, nil, false)

	ss := NewValueState(String, Void, Int)
	ss.Update("ab", VoidNamespace{}, 6)
	expectGet(t, ss, []byte{0x83, 0x00, 'a', 'b', Magic, 0}, Int.Append(nil, 6), true)        // redundant length byte
	expectGet(t, ss, []byte{0x03, 0xe1, 0x00, 'b', Magic, 0}, Int.Append(nil, 6), true)       // redundant unit byte
	expectGet(t, ss, []byte{0x03, 0xe1, 0x80, 0x04, 'b', Magic, 0}, Int.Append(nil, 6), true) // 0x10061 truncated to 'a' as Java's (char)
	// A lone surrogate is not U+FFFD: no match even in a non-canonical form.
	ss.Update("\uFFFD", VoidNamespace{}, 7)
	expectGet(t, ss, []byte{0x02, 0xfd, 0xff, 0x03, Magic, 0}, Int.Append(nil, 7), true)
	expectGet(t, ss, []byte{0x02, 0x80, 0xb0, 0x03, Magic, 0}, nil, false)       // D800
	expectGet(t, ss, []byte{0x82, 0x00, 0x80, 0xb0, 0x03, Magic, 0}, nil, false) // D800, long length
	expectGet(t, ss, []byte{0x02, 0x80, 0xb0, 0x83, 0x00, Magic, 0}, nil, false) // D800, long unit

	sd := NewValueState(Double, Void, Int)
	sd.Update(math.NaN(), VoidNamespace{}, 8)
	expectGet(t, sd, []byte{0x7f, 0xf8, 0, 0, 0, 0, 0, 0, Magic, 0}, Int.Append(nil, 8), true)
	expectGet(t, sd, []byte{0x7f, 0xf0, 0, 0, 0, 0, 0, 1, Magic, 0}, Int.Append(nil, 8), true) // another NaN
}

func TestVoidPanicsOnOtherNamespace(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Void() on a String-namespace state did not panic")
		}
	}()
	NewValueState(Int, String, Int).Void()
}

func TestNamespaces(t *testing.T) {
	s := NewValueState(Int, String, Int)
	s.Update(1, "w1", 10)
	s.In("w2").Update(1, 20)
	expectGet(t, s, AppendKeyAndNamespace(nil, Int, 1, String, "w1"), Int.Append(nil, 10), true)
	expectGet(t, s, AppendKeyAndNamespace(nil, Int, 1, String, "w2"), Int.Append(nil, 20), true)
	expectGet(t, s, AppendKeyAndNamespace(nil, Int, 1, String, "w3"), nil, false)
	if s.Len() != 2 {
		t.Errorf("Len = %d", s.Len())
	}
}

func TestListState(t *testing.T) {
	s := NewListState(Int, Void, Long)
	l := s.Void()
	kn := knVoid(Int, 1)
	l.Add(1, 10)
	first, _, _ := s.Get(kn)
	firstCopy := slices.Clone(first)
	l.AddAll(1, []int64{20, 30})
	l.AddAll(1, nil)
	expectGet(t, s, kn, AppendList(nil, Long, []int64{10, 20, 30}), true)
	// I1: an answer handed out earlier never changes.
	if !bytes.Equal(first, firstCopy) {
		t.Errorf("published bytes changed: %x -> %x", firstCopy, first)
	}
	if got := l.Elements(1); !slices.Equal(got, []int64{10, 20, 30}) {
		t.Errorf("Elements = %v", got)
	}
	held, _, _ := s.Get(kn)
	heldCopy := slices.Clone(held)
	l.Update(1, []int64{5})
	l.Add(1, 6)
	expectGet(t, s, kn, AppendList(nil, Long, []int64{5, 6}), true)
	if !bytes.Equal(held, heldCopy) {
		t.Errorf("published bytes changed after Update: %x -> %x", heldCopy, held)
	}
	// Appending to an answer must not write into the state's buffer.
	ans, _, _ := s.Get(kn)
	_ = append(ans, 0xff, 0xff)
	expectGet(t, s, kn, AppendList(nil, Long, []int64{5, 6}), true)
	l.Add(1, 7)
	expectGet(t, s, kn, AppendList(nil, Long, []int64{5, 6, 7}), true)
	l.Update(1, nil) // empty: cleared
	expectGet(t, s, kn, nil, false)
	if l.Elements(1) != nil || s.Len() != 0 {
		t.Error("list not cleared")
	}
}

func TestMapState(t *testing.T) {
	s := NewMapState(String, Void, String, Long)
	m := s.Void()
	kn := knVoid(String, "u")
	check := func(want map[string]int64) {
		t.Helper()
		got, found, err := s.Get(kn)
		if err != nil || found != (len(want) > 0) {
			t.Fatalf("Get = %x, %v, %v", got, found, err)
		}
		back, err := ReadMap(String, Long, got)
		if err != nil || len(back) != len(want) {
			t.Fatalf("content %x = %v, %v; want %v", got, back, err, want)
		}
		for k, v := range want {
			if back[k] == nil || *back[k] != v {
				t.Errorf("content[%q] = %v, want %d", k, back[k], v)
			}
		}
		if e := m.Entries("u"); len(e) != len(want) {
			t.Errorf("Entries = %v, want %v", e, want)
		}
	}
	m.Put("u", "a", 1)
	held, _, _ := s.Get(kn)
	heldCopy := slices.Clone(held)
	m.Put("u", "b", 2)
	check(map[string]int64{"a": 1, "b": 2})
	m.Put("u", "a", 3) // replace: re-serialized
	check(map[string]int64{"a": 3, "b": 2})
	m.PutAll("u", map[string]int64{"c": 4, "b": 5})
	check(map[string]int64{"a": 3, "b": 5, "c": 4})
	if !bytes.Equal(held, heldCopy) {
		t.Errorf("published bytes changed: %x -> %x", heldCopy, held)
	}
	if v, ok := m.Lookup("u", "c"); !ok || v != 4 {
		t.Errorf("Lookup(c) = %d, %v", v, ok)
	}
	m.Remove("u", "a")
	m.Remove("u", "zz")
	check(map[string]int64{"b": 5, "c": 4})
	m.Remove("u", "b")
	m.Remove("u", "c") // last entry: no state
	check(nil)
	if s.Len() != 0 {
		t.Errorf("Len = %d", s.Len())
	}
	m.Put("u", "x", 1)
	m.Clear("u")
	check(nil)
}

func TestReducingState(t *testing.T) {
	s := NewReducingState(Int, Void, Long, func(a, b int64) int64 { return a + b })
	r := s.Void()
	for i := int64(1); i <= 4; i++ {
		r.Add(3, i)
	}
	expectGet(t, s, knVoid(Int, 3), Long.Append(nil, 10), true)
	if v, ok := r.Value(3); !ok || v != 10 {
		t.Errorf("Value = %d, %v", v, ok)
	}
	r.Clear(3)
	expectGet(t, s, knVoid(Int, 3), nil, false)
}

// avg keeps (sum, count) and returns the mean: its accumulator, not its
// result, is what a query gets.
type avg struct{}

func (avg) CreateAccumulator() Tuple2[int64, int64] { return Tuple2[int64, int64]{} }
func (avg) Add(in int64, acc Tuple2[int64, int64]) Tuple2[int64, int64] {
	return Tuple2[int64, int64]{acc.F0 + in, acc.F1 + 1}
}
func (avg) Result(acc Tuple2[int64, int64]) float64 { return float64(acc.F0) / float64(acc.F1) }

func TestAggregatingState(t *testing.T) {
	accSer := Tuple2Of(Long, Long)
	s := NewAggregatingState(String, Void, accSer, avg{})
	a := s.Void()
	a.Add("x", 2)
	a.Add("x", 4)
	expectGet(t, s, knVoid(String, "x"), accSer.Append(nil, Tuple2[int64, int64]{6, 2}), true)
	if r, ok := a.Result("x"); !ok || r != 3 {
		t.Errorf("Result = %v, %v", r, ok)
	}
	a.Clear("x")
	if _, ok := a.Result("x"); ok {
		t.Error("Result after Clear")
	}
}

// TestPanickingReduceLeavesNoState checks I2: a reduce function that panics
// leaves the state as it was and the lock free.
func TestPanickingReduceLeavesNoState(t *testing.T) {
	s := NewReducingState(Int, Void, Long, func(a, b int64) int64 {
		if b < 0 {
			panic("negative")
		}
		return a + b
	})
	s.Add(1, VoidNamespace{}, 1)
	func() {
		defer func() { _ = recover() }()
		s.Add(1, VoidNamespace{}, -1)
	}()
	s.Add(1, VoidNamespace{}, 2) // would deadlock if the lock leaked
	expectGet(t, s, knVoid(Int, 1), Long.Append(nil, 3), true)
}

func TestReadListMapHostile(t *testing.T) {
	// Lists: a trailing separator is tolerated, the separator value is not checked.
	got, err := ReadList(Int, []byte{0, 0, 0, 1, 0xff, 0, 0, 0, 2, 0x2c})
	if err != nil || !slices.Equal(got, []int32{1, 2}) {
		t.Errorf("ReadList = %v, %v", got, err)
	}
	if _, err := ReadList(Int, []byte{0, 0, 0, 1, 0x2c, 0, 0}); !errors.Is(err, ErrTruncated) {
		t.Errorf("truncated list: %v", err)
	}
	if _, err := ReadMap(Int, Int, []byte{0, 0, 0, 1}); !errors.Is(err, ErrTruncated) {
		t.Errorf("map without null flag: %v", err)
	}
	if _, err := ReadMap(Int, Int, []byte{0, 0, 0, 1, 0, 0, 0}); !errors.Is(err, ErrTruncated) {
		t.Errorf("map with truncated value: %v", err)
	}
	if _, _, err := Bytes.Read([]byte{0x80, 0, 0, 0}); !errors.Is(err, ErrMalformed) {
		t.Errorf("negative byte[] length: %v", err)
	}
	if _, _, err := Bytes.Read([]byte{0x7f, 0xff, 0xff, 0xff, 1}); !errors.Is(err, ErrTruncated) {
		t.Errorf("huge byte[] length: %v", err)
	}
	if _, _, err := String.Read([]byte{0xff, 0xff, 0xff, 0xff, 0x07, 'a'}); !errors.Is(err, ErrTruncated) {
		t.Errorf("huge string length: %v", err)
	}
}

func TestStringSurrogatesAndInvalidUTF8(t *testing.T) {
	// Supplementary characters are surrogate pairs on the wire.
	b := String.Append(nil, "a😀")
	if want := []byte{0x04, 'a', 0xbd, 0xb0, 0x03, 0x80, 0xbc, 0x03}; !bytes.Equal(b, want) {
		t.Errorf("Append(a😀) = %x, want %x", b, want)
	}
	// Invalid UTF-8 is written as U+FFFD, which reads back as U+FFFD.
	b = String.Append(nil, "x\xffy")
	if s, _, err := String.Read(b); err != nil || s != "x\uFFFDy" {
		t.Errorf("invalid UTF-8 round trip = %q, %v", s, err)
	}
	// Lone surrogates read as U+FFFD.
	for _, c := range []struct {
		in   []byte
		want string
	}{
		{[]byte{0x02, 0x80, 0xb0, 0x03}, "\uFFFD"},                         // D800
		{[]byte{0x03, 0x80, 0xb0, 0x03, 'a'}, "\uFFFDa"},                   // D800 a
		{[]byte{0x02, 0x80, 0xb8, 0x03}, "\uFFFD"},                         // DC00
		{[]byte{0x03, 0x80, 0xb0, 0x03, 0x80, 0xb0, 0x03}, "\uFFFD\uFFFD"}, // D800 D800
		{[]byte{0x04, 0x80, 0xb0, 0x03, 0x80, 0xb0, 0x03, 0x80, 0xb8, 0x03}, "\uFFFD\U00010000"},
	} {
		s, rest, err := String.Read(c.in)
		if err != nil || s != c.want || len(rest) != 0 {
			t.Errorf("Read(%x) = %q, %x, %v; want %q", c.in, s, rest, err, c.want)
		}
	}
}
