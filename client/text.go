package client

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/qstate/qstate/internal/enumname"
	"github.com/qstate/qstate/state"
)

// Type names a Flink type for tools that choose types at run time (a
// command line, a config file). Generic code should use the serializers of
// package state directly.
type Type int

// The types a text query can use.
const (
	TypeInt     Type = iota + 1 // Java Integer, state.Int
	TypeLong                    // Java Long, state.Long
	TypeString                  // Java String, state.String
	TypeBoolean                 // Java Boolean, state.Boolean
	TypeDouble                  // Java Double, state.Double
	TypeBytes                   // Java byte[], state.Bytes (not a key type: its hashCode is the identity)
)

var types = enumname.Table[Type]{
	Type:  "Type",
	Names: []string{TypeInt: "int", TypeLong: "long", TypeString: "string", TypeBoolean: "boolean", TypeDouble: "double", TypeBytes: "bytes"},
	What:  "type", Err: ErrBadArgument,
}

// String returns the type's name as ParseType takes it.
func (t Type) String() string { return types.String(t) }

// ParseType returns the Type named s: int, long, string, boolean, double or bytes.
func ParseType(s string) (Type, error) { return types.Parse(s) }

// Kind is the kind of a queryable state, which decides how its content is
// laid out.
type Kind int

// The kinds of state content.
const (
	KindValue Kind = iota + 1 // ValueState, ReducingState, AggregatingState (its accumulator)
	KindList                  // ListState: elements separated by one byte
	KindMap                   // MapState: key, null flag, value, repeated
)

var kinds = enumname.Table[Kind]{
	Type: "Kind", Names: []string{KindValue: "value", KindList: "list", KindMap: "map"},
	What: "state kind", Err: ErrBadArgument,
}

// String returns the kind's name as ParseKind takes it.
func (k Kind) String() string { return kinds.String(k) }

// ParseKind returns the Kind named s: value, list or map.
func ParseKind(s string) (Kind, error) { return kinds.Parse(s) }

// ParseJobID parses a JobID as Flink prints it (32 hex digits) into the 16
// bytes a request carries (PROTOCOL.md §3.1: the same bytes, in order).
func ParseJobID(s string) ([16]byte, error) {
	var id [16]byte
	if len(s) != 32 {
		return id, fmt.Errorf("%w: JobID %q is not 32 hex digits", ErrBadArgument, s)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("%w: JobID %q: %w", ErrBadArgument, s, err)
	}
	return id, nil
}

// KeyText parses text as a key of type t and returns what a KvStateRequest
// needs: the serialized key and VoidNamespace, and the key's Java hashCode.
// Int and long keys are decimal; booleans true or false; doubles as
// strconv.ParseFloat reads them. Bytes cannot be keys.
func KeyText(t Type, text string) (keyAndNamespace []byte, hash int32, err error) {
	switch t {
	case TypeInt:
		v, err := strconv.ParseInt(text, 10, 32)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: int key: %w", ErrBadArgument, err)
		}
		return keyAndNS(state.Int, int32(v))
	case TypeLong:
		v, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: long key: %w", ErrBadArgument, err)
		}
		return keyAndNS(state.Long, v)
	case TypeString:
		return keyAndNS(state.String, text)
	case TypeBoolean:
		v, err := strconv.ParseBool(text)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: boolean key: %w", ErrBadArgument, err)
		}
		return keyAndNS(state.Boolean, v)
	case TypeDouble:
		v, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: double key: %w", ErrBadArgument, err)
		}
		return keyAndNS(state.Double, v)
	}
	return nil, 0, fmt.Errorf("%w: %v cannot be a key type", ErrBadArgument, t)
}

func keyAndNS[K any](ks state.KeySerializer[K], key K) ([]byte, int32, error) {
	return state.AppendKeyAndNamespace(nil, ks, key, state.Void, state.VoidNamespace{}), ks.HashCode(key), nil
}

// FormatContent decodes state content of the given kind and returns it as
// text lines: one line for a value; one per element for a list; one "k=v"
// per entry for a map, sorted by key (numerically for numbers). Values
// print as Go prints them (doubles with strconv 'g', shortest form), byte
// arrays in hex, Java nulls as "null". mapKeyType is used for maps only.
// Errors wrap ErrDecode.
func FormatContent(content []byte, kind Kind, valueType, mapKeyType Type) ([]string, error) {
	vs, err := dynamicSerializer(valueType)
	if err != nil {
		return nil, err
	}
	switch kind {
	case KindValue:
		v, err := readValue[any](vs, content)
		if err != nil {
			return nil, fmt.Errorf("%w: value: %w", ErrDecode, err)
		}
		return []string{formatValue(v)}, nil
	case KindList:
		l, err := state.ReadList[any](vs, content)
		if err != nil {
			return nil, fmt.Errorf("%w: list: %w", ErrDecode, err)
		}
		lines := make([]string, len(l))
		for i, v := range l {
			lines[i] = formatValue(v)
		}
		return lines, nil
	case KindMap:
		ks, err := dynamicSerializer(mapKeyType)
		if err != nil {
			return nil, err
		}
		// Byte-array keys become strings: []byte is not a valid Go map key.
		m, err := state.ReadMap[any, any](mapKeySerializer{ks}, vs, content)
		if err != nil {
			return nil, fmt.Errorf("%w: map: %w", ErrDecode, err)
		}
		keys := make([]any, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, compareValues)
		lines := make([]string, len(keys))
		for i, k := range keys {
			v := "null"
			if p := m[k]; p != nil {
				v = formatValue(*p)
			}
			if s, ok := k.(bytesKey); ok {
				k = []byte(s)
			}
			lines[i] = formatValue(k) + "=" + v
		}
		return lines, nil
	}
	return nil, fmt.Errorf("%w: unknown state kind %v", ErrBadArgument, kind)
}

// dynamicSerializer returns a state.Serializer[any] for t, whose values
// are int32, int64, string (nil for Java's null string), bool, float64 or
// []byte.
func dynamicSerializer(t Type) (state.Serializer[any], error) {
	switch t {
	case TypeInt:
		return anySerializer[int32]{state.Int}, nil
	case TypeLong:
		return anySerializer[int64]{state.Long}, nil
	case TypeString:
		return nullableString{}, nil
	case TypeBoolean:
		return anySerializer[bool]{state.Boolean}, nil
	case TypeDouble:
		return anySerializer[float64]{state.Double}, nil
	case TypeBytes:
		return anySerializer[[]byte]{state.Bytes}, nil
	}
	return nil, fmt.Errorf("%w: unknown type %v", ErrBadArgument, t)
}

// anySerializer adapts a typed serializer to any.
type anySerializer[T any] struct{ s state.Serializer[T] }

func (a anySerializer[T]) Append(dst []byte, v any) []byte { return a.s.Append(dst, v.(T)) }

func (a anySerializer[T]) Read(b []byte) (any, []byte, error) {
	v, rest, err := a.s.Read(b)
	if err != nil {
		return nil, rest, err
	}
	return v, rest, nil
}

// nullableString reads Flink strings, Java's null (a 0x00 length) as nil.
type nullableString struct{}

func (nullableString) Append(dst []byte, v any) []byte {
	if v == nil {
		return append(dst, 0)
	}
	return state.String.Append(dst, v.(string))
}

func (nullableString) Read(b []byte) (any, []byte, error) {
	if len(b) > 0 && b[0] == 0 {
		return nil, b[1:], nil
	}
	v, rest, err := state.String.Read(b)
	if err != nil {
		return nil, rest, err
	}
	return v, rest, nil
}

// bytesKey is a byte-array map key held as a string so that it can be a Go
// map key.
type bytesKey string

// mapKeySerializer turns []byte keys into bytesKey.
type mapKeySerializer struct{ s state.Serializer[any] }

func (m mapKeySerializer) Append(dst []byte, v any) []byte {
	if k, ok := v.(bytesKey); ok {
		v = []byte(k)
	}
	return m.s.Append(dst, v)
}

func (m mapKeySerializer) Read(b []byte) (any, []byte, error) {
	v, rest, err := m.s.Read(b)
	if p, ok := v.([]byte); ok {
		v = bytesKey(p)
	}
	return v, rest, err
}

// formatValue prints one decoded value.
func formatValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case int32:
		return strconv.FormatInt(int64(v), 10)
	case int64:
		return strconv.FormatInt(v, 10)
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case []byte:
		return hex.EncodeToString(v)
	}
	return fmt.Sprint(v)
}

// compareValues orders map keys of one type: numbers numerically, false
// before true, strings and bytes lexically, null first.
func compareValues(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	switch a := a.(type) {
	case int32:
		return cmp.Compare(a, b.(int32))
	case int64:
		return cmp.Compare(a, b.(int64))
	case string:
		return strings.Compare(a, b.(string))
	case bool:
		bb := b.(bool)
		switch {
		case a == bb:
			return 0
		case !a:
			return -1
		}
		return 1
	case float64:
		return cmp.Compare(a, b.(float64))
	case bytesKey:
		return bytes.Compare([]byte(a), []byte(b.(bytesKey)))
	}
	return 0
}
