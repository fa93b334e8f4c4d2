package state

import (
	"bytes"
	"errors"
	"testing"

	"github.com/qstate/qstate/internal/vectors"
)

func seedVectors(f *testing.F, kinds ...string) {
	f.Helper()
	for _, k := range kinds {
		vs, err := vectors.Kind(k)
		if err != nil {
			f.Fatal(err)
		}
		for _, v := range vs {
			f.Add(v.Hex("hex"))
		}
	}
}

// FuzzString checks on any input: Read and Skip agree; canonical input
// (no recode, no lone surrogate) re-serializes to itself; recoded input
// re-serializes to a canonical form of the same string. No panics.
func FuzzString(f *testing.F) {
	seedVectors(f, "key_and_namespace", "value")
	f.Add([]byte{0x83, 0x00, 'a', 'b'})
	f.Add([]byte{0x02, 0x80, 0xb0, 0x03})
	f.Add([]byte{0x03, 0xe1, 0x80, 0x04, 'b'})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, rest, rerr := String.Read(b)
		srest, recode, serr := String.(Skipper).Skip(b)
		if (rerr == nil) != (serr == nil) {
			t.Fatalf("Read error %v, Skip error %v", rerr, serr)
		}
		if rerr != nil {
			if !errors.Is(rerr, ErrTruncated) && !errors.Is(rerr, ErrMalformed) && !errors.Is(rerr, ErrNull) {
				t.Fatalf("Read error %v wraps no sentinel", rerr)
			}
			return
		}
		if !bytes.Equal(rest, srest) {
			t.Fatalf("Read rest %x, Skip rest %x", rest, srest)
		}
		consumed := b[:len(b)-len(rest)]
		_, _, _, rec, lossy, _ := scanString(b)
		out := String.Append(nil, s)
		switch {
		case !rec && !lossy:
			if !bytes.Equal(out, consumed) {
				t.Fatalf("canonical %x re-serializes as %x", consumed, out)
			}
		case !lossy:
			if !recode {
				t.Fatal("Skip hides a recode")
			}
			s2, _, err := String.Read(out)
			_, again, _ := String.(Skipper).Skip(out)
			if err != nil || s2 != s || again {
				t.Fatalf("recoded %x -> %x reads %q, %v (recode %v)", consumed, out, s2, err, again)
			}
		default:
			if recode {
				t.Fatal("lossy input offered for recoding")
			}
		}
	})
}

// FuzzGet checks a state's Get on any bytes against ReadKeyAndNamespace:
// bytes that parse get no error and are found exactly when their key is
// stored; bytes that do not parse get ErrBadKeyAndNamespace. No panics.
// (No stored key holds U+FFFD, so a lone surrogate, which Read turns into
// U+FFFD, can never name a stored key, and Get must not find it either.)
func FuzzGet(f *testing.F) {
	seedVectors(f, "key_and_namespace")
	keys := []string{"", "a", "hello", "日本語", "😀", "a😀b", string(bytes.Repeat([]byte("x"), 200))}
	sv := NewValueState(String, Void, Int)
	tk := Tuple2Of(Int, String)
	st := NewListState(tk, String, Int)
	for i, k := range keys {
		sv.Update(k, VoidNamespace{}, int32(i))
		st.Add(Tuple2[int32, string]{int32(i), k}, "ns", int32(i))
		f.Add(knVoid(String, k))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(name string, s KvState, parse func() (bool, error)) {
			ans, found, err := s.Get(b)
			stored, perr := parse()
			if (perr == nil) != (err == nil) {
				t.Fatalf("%s: Get error %v, ReadKeyAndNamespace error %v", name, err, perr)
			}
			if err != nil {
				if !errors.Is(err, ErrBadKeyAndNamespace) || found || ans != nil {
					t.Fatalf("%s: Get = %x, %v, %v", name, ans, found, err)
				}
				return
			}
			if found != stored {
				t.Fatalf("%s: Get found %v, key stored %v", name, found, stored)
			}
		}
		check("string key", sv, func() (bool, error) {
			k, _, err := ReadKeyAndNamespace(String, Void, b)
			_, ok := sv.Value(k, VoidNamespace{})
			return ok, err
		})
		check("tuple key", st, func() (bool, error) {
			k, n, err := ReadKeyAndNamespace(tk, String, b)
			return st.Elements(k, n) != nil, err
		})
	})
}

// FuzzReadContent checks that list and map content never panics the
// readers, and that what they read re-serializes to content that reads
// the same.
func FuzzReadContent(f *testing.F) {
	seedVectors(f, "list", "map")
	f.Fuzz(func(t *testing.T, b []byte) {
		if l, err := ReadList(String, b); err == nil {
			if back, err := ReadList(String, AppendList(nil, String, l)); err != nil || len(back) != len(l) {
				t.Fatalf("list %q round trip: %q, %v", l, back, err)
			}
		}
		if m, err := ReadMap(Int, Bytes, b); err == nil {
			var es []MapEntry[int32, []byte]
			for k, v := range m {
				es = append(es, MapEntry[int32, []byte]{k, v})
			}
			if back, err := ReadMap(Int, Bytes, AppendMapEntries(nil, Int, Bytes, es)); err != nil || len(back) != len(m) {
				t.Fatalf("map round trip: %v", err)
			}
		}
		_, _ = ReadList(Tuple2Serializer[[]byte, bool]{Bytes, Boolean}, b)
		_, _ = ReadMap(Double, Long, b)
	})
}
