// Package vectors loads the golden vectors that Flink's own Java classes
// produced (embedded from testdata/, inside this repository) for tests that
// prove byte-for-byte compatibility.
//
// It is for tests only: nothing in the product imports it. It must not
// interpret the protocol: it hands out the fields as they are in the file.
// The vectors are compiled into the test binary, so they cannot go missing.
package vectors

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Vector is one line of flink-golden.jsonl.
type Vector struct {
	Kind   string
	Name   string
	Fields map[string]json.RawMessage
}

// Has reports whether the vector has the field.
func (v Vector) Has(field string) bool {
	raw, ok := v.Fields[field]
	return ok && string(raw) != "null"
}

// Str returns a string field; it panics on a missing or non-string field,
// which in a test is a bug in the test.
func (v Vector) Str(field string) string {
	var s string
	v.decode(field, &s)
	return s
}

// Int returns an integer field (int, long, hash, length).
func (v Vector) Int(field string) int64 {
	raw, ok := v.Fields[field]
	if !ok {
		panic(fmt.Sprintf("vectors: %s %q has no field %q", v.Kind, v.Name, field))
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		panic(fmt.Sprintf("vectors: %s %q field %q: %v", v.Kind, v.Name, field, err))
	}
	return n
}

// Bool returns a boolean field.
func (v Vector) Bool(field string) bool {
	var b bool
	v.decode(field, &b)
	return b
}

// Hex returns a *_hex field decoded to bytes.
func (v Vector) Hex(field string) []byte {
	b, err := hex.DecodeString(v.Str(field))
	if err != nil {
		panic(fmt.Sprintf("vectors: %s %q field %q: %v", v.Kind, v.Name, field, err))
	}
	return b
}

// Decode unmarshals a field into out (for typed values, lists and maps).
func (v Vector) Decode(field string, out any) { v.decode(field, out) }

func (v Vector) decode(field string, out any) {
	raw, ok := v.Fields[field]
	if !ok {
		panic(fmt.Sprintf("vectors: %s %q has no field %q", v.Kind, v.Name, field))
	}
	if err := json.Unmarshal(raw, out); err != nil {
		panic(fmt.Sprintf("vectors: %s %q field %q: %v", v.Kind, v.Name, field, err))
	}
}

// files holds the vectors, copied from Flink's own output into this
// repository (testdata/README.md says what produced them).
//
//go:embed testdata/flink-golden.jsonl testdata/throwables
var files embed.FS

// ReadFile returns the bytes of a file under testdata (for example
// "throwables/minimal_runtimeexception_boom.bin").
func ReadFile(rel string) ([]byte, error) {
	b, err := files.ReadFile(path.Join("testdata", rel))
	if err != nil {
		return nil, fmt.Errorf("vectors: %w", err)
	}
	return b, nil
}

// Glob returns the names, relative to testdata, of the files matching
// pattern (for example "throwables/*.bin").
func Glob(pattern string) ([]string, error) {
	m, err := fs.Glob(files, path.Join("testdata", pattern))
	if err != nil {
		return nil, fmt.Errorf("vectors: %w", err)
	}
	for i := range m {
		m[i] = strings.TrimPrefix(m[i], "testdata/")
	}
	return m, nil
}

var (
	loadOnce sync.Once
	all      []Vector
	loadErr  error
)

// All returns every vector of flink-golden.jsonl, in file order.
func All() ([]Vector, error) {
	loadOnce.Do(func() { all, loadErr = load() })
	return all, loadErr
}

// Kind returns the vectors of one kind; it is an error when there are none.
func Kind(kind string) ([]Vector, error) {
	vs, err := All()
	if err != nil {
		return nil, err
	}
	var out []Vector
	for _, v := range vs {
		if v.Kind == kind {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("vectors: no vector of kind %q", kind)
	}
	return out, nil
}

func load() ([]Vector, error) {
	const p = "flink-golden.jsonl"
	b, err := ReadFile(p)
	if err != nil {
		return nil, err
	}
	var out []Vector
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for line := 1; sc.Scan(); line++ {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &fields); err != nil {
			return nil, fmt.Errorf("vectors: %s line %d: %w", p, line, err)
		}
		v := Vector{Fields: fields}
		_ = json.Unmarshal(fields["kind"], &v.Kind)
		_ = json.Unmarshal(fields["name"], &v.Name)
		out = append(out, v)
	}
	return out, sc.Err()
}

// MustKind is Kind for a test: it fails t when there is no vector of kind.
func MustKind(t testing.TB, kind string) []Vector {
	t.Helper()
	vs, err := Kind(kind)
	if err != nil {
		t.Fatal(err)
	}
	return vs
}
