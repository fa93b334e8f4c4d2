// Package vectors loads the golden vectors that Flink's own Java classes
// produced (shared/vectors beside the repository) for tests that prove
// byte-for-byte compatibility.
//
// It is for tests only: nothing in the product imports it. It must not
// interpret the protocol: it hands out the fields as they are in the file,
// and a missing vectors file is an error, never a skip.
package vectors

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// EnvDir names an environment variable that, when set, is the vectors
// directory; otherwise Dir looks for shared/vectors in the parents of the
// working directory.
const EnvDir = "QSTATE_VECTORS"

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

// Dir returns the vectors directory: $QSTATE_VECTORS, or the first
// shared/vectors found walking up from the working directory.
func Dir() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		return d, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		c := filepath.Join(d, "shared", "vectors")
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return c, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("vectors: no shared/vectors above " + wd + " (set " + EnvDir + ")")
		}
	}
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

// File returns the path of a file in the vectors directory (for
// throwables/*.bin and the like), checking that it exists.
func File(rel string) (string, error) {
	d, err := Dir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(d, rel)
	if _, err := os.Stat(p); err != nil {
		return "", err
	}
	return p, nil
}

func load() ([]Vector, error) {
	p, err := File("flink-golden.jsonl")
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Vector
	sc := bufio.NewScanner(f)
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
