package state

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
)

// Serializer writes and reads one Go type in the binary format of a Flink
// TypeSerializer (big-endian, java.io.DataOutput semantics).
//
// Append appends the serialized v to dst and returns the extended slice,
// like append; it never retains dst or v. Read decodes one value from the
// front of b and returns it with the bytes after it; errors wrap
// ErrTruncated, ErrMalformed or ErrNull. Read never retains b: values it
// returns (strings, byte slices) are the caller's own.
type Serializer[T any] interface {
	Append(dst []byte, v T) []byte
	Read(b []byte) (v T, rest []byte, err error)
}

// KeySerializer is a Serializer for a type that can be a Flink key: HashCode
// is the Java hashCode() of the key object, which Flink's client sends as
// the keyHashCode and Flink uses for key-group assignment.
type KeySerializer[T any] interface {
	Serializer[T]
	HashCode(v T) int32
}

// Skipper is an optional interface of a Serializer. Skip steps over one
// serialized value at the front of b without allocating and returns the
// bytes after it. recode reports that the bytes are a form Flink's reader
// accepts but Flink's writer never produces (a redundant varint byte, a
// Boolean byte other than 0 or 1, a non-canonical NaN, a VoidNamespace
// byte other than 0): Append(Read(b)) is then the canonical form of the
// same value. Errors are those Read would return. Every serializer of this
// package implements it; a KvState uses it to check the key and namespace
// of a query without allocating.
type Skipper interface {
	Skip(b []byte) (rest []byte, recode bool, err error)
}

// Provided serializers, one per Flink type.
var (
	// Int is Flink's IntSerializer: 4 bytes, big-endian; Java Integer.hashCode.
	Int KeySerializer[int32] = intSerializer{}
	// Long is Flink's LongSerializer: 8 bytes, big-endian; Java Long.hashCode.
	Long KeySerializer[int64] = longSerializer{}
	// Short is Flink's ShortSerializer: 2 bytes, big-endian; Java Short.hashCode.
	Short KeySerializer[int16] = shortSerializer{}
	// Byte is Flink's ByteSerializer: 1 byte; Java Byte.hashCode.
	Byte KeySerializer[int8] = byteSerializer{}
	// Char is Flink's CharSerializer: one UTF-16 code unit, 2 bytes, big-endian.
	Char KeySerializer[uint16] = charSerializer{}
	// Boolean is Flink's BooleanSerializer: 0x01 true, 0x00 false; Read takes
	// any non-zero byte as true (java.io.DataInput.readBoolean); Java
	// Boolean.hashCode (1231 / 1237).
	Boolean KeySerializer[bool] = boolSerializer{}
	// Double is Flink's DoubleSerializer: the 8 big-endian bytes of Java's
	// doubleToLongBits (every NaN written as 0x7ff8000000000000); Java
	// Double.hashCode (so -0.0 and 0.0 differ).
	Double KeySerializer[float64] = doubleSerializer{}
	// Float is Flink's FloatSerializer: the 4 big-endian bytes of Java's
	// floatToIntBits (NaN as 0x7fc00000); Java Float.hashCode.
	Float KeySerializer[float32] = floatSerializer{}
	// String is Flink's StringSerializer (StringValue.writeString): a varint
	// of the UTF-16 length + 1, then one varint per UTF-16 code unit; Java
	// String.hashCode. It also serves as a namespace serializer.
	String KeySerializer[string] = stringSerializer{}
	// Bytes is Flink's BytePrimitiveArraySerializer: a 4-byte big-endian
	// length, then the bytes. It is not a KeySerializer: Java's byte[]
	// hashCode is the identity hash, which no other process can reproduce.
	// Read returns a copy.
	Bytes Serializer[[]byte] = bytesSerializer{}
	// Void is Flink's VoidNamespaceSerializer: one 0x00 byte (Read accepts
	// any byte, as Flink does). Queries from Flink's client always use it.
	Void Serializer[VoidNamespace] = voidSerializer{}
)

// VoidNamespace is Flink's VoidNamespace: the namespace of keyed state that
// is not in a window, the only one Flink's QueryableStateClient sends.
type VoidNamespace struct{}

func truncated(what string, need, have int) error {
	return fmt.Errorf("%w: %s needs %d bytes, %d left", ErrTruncated, what, need, have)
}

type intSerializer struct{}

func (intSerializer) Append(dst []byte, v int32) []byte {
	return binary.BigEndian.AppendUint32(dst, uint32(v))
}

func (intSerializer) Read(b []byte) (int32, []byte, error) {
	if len(b) < 4 {
		return 0, b, truncated("int", 4, len(b))
	}
	return int32(binary.BigEndian.Uint32(b)), b[4:], nil
}

func (intSerializer) Skip(b []byte) ([]byte, bool, error) { return skipFixed(b, 4, "int") }

func (intSerializer) HashCode(v int32) int32 { return v }

type longSerializer struct{}

func (longSerializer) Append(dst []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(v))
}

func (longSerializer) Read(b []byte) (int64, []byte, error) {
	if len(b) < 8 {
		return 0, b, truncated("long", 8, len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), b[8:], nil
}

func (longSerializer) Skip(b []byte) ([]byte, bool, error) { return skipFixed(b, 8, "long") }

func (longSerializer) HashCode(v int64) int32 { return longHash(uint64(v)) }

// longHash is Java's Long.hashCode: (int)(v ^ (v >>> 32)).
func longHash(v uint64) int32 { return int32(uint32(v ^ v>>32)) }

type shortSerializer struct{}

func (shortSerializer) Append(dst []byte, v int16) []byte {
	return binary.BigEndian.AppendUint16(dst, uint16(v))
}

func (shortSerializer) Read(b []byte) (int16, []byte, error) {
	if len(b) < 2 {
		return 0, b, truncated("short", 2, len(b))
	}
	return int16(binary.BigEndian.Uint16(b)), b[2:], nil
}

func (shortSerializer) Skip(b []byte) ([]byte, bool, error) { return skipFixed(b, 2, "short") }

func (shortSerializer) HashCode(v int16) int32 { return int32(v) }

type byteSerializer struct{}

func (byteSerializer) Append(dst []byte, v int8) []byte { return append(dst, byte(v)) }

func (byteSerializer) Read(b []byte) (int8, []byte, error) {
	if len(b) < 1 {
		return 0, b, truncated("byte", 1, len(b))
	}
	return int8(b[0]), b[1:], nil
}

func (byteSerializer) Skip(b []byte) ([]byte, bool, error) { return skipFixed(b, 1, "byte") }

func (byteSerializer) HashCode(v int8) int32 { return int32(v) }

type charSerializer struct{}

func (charSerializer) Append(dst []byte, v uint16) []byte {
	return binary.BigEndian.AppendUint16(dst, v)
}

func (charSerializer) Read(b []byte) (uint16, []byte, error) {
	if len(b) < 2 {
		return 0, b, truncated("char", 2, len(b))
	}
	return binary.BigEndian.Uint16(b), b[2:], nil
}

func (charSerializer) Skip(b []byte) ([]byte, bool, error) { return skipFixed(b, 2, "char") }

func (charSerializer) HashCode(v uint16) int32 { return int32(v) }

type boolSerializer struct{}

func (boolSerializer) Append(dst []byte, v bool) []byte {
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}

func (boolSerializer) Read(b []byte) (bool, []byte, error) {
	if len(b) < 1 {
		return false, b, truncated("boolean", 1, len(b))
	}
	return b[0] != 0, b[1:], nil
}

func (boolSerializer) Skip(b []byte) ([]byte, bool, error) {
	if len(b) < 1 {
		return b, false, truncated("boolean", 1, len(b))
	}
	return b[1:], b[0] > 1, nil
}

func (boolSerializer) HashCode(v bool) int32 {
	if v {
		return 1231
	}
	return 1237
}

// Java's canonical NaN bit patterns (doubleToLongBits / floatToIntBits).
const (
	canonicalNaN64 = 0x7ff8000000000000
	canonicalNaN32 = 0x7fc00000
)

// doubleBits is Java's Double.doubleToLongBits.
func doubleBits(v float64) uint64 {
	if v != v {
		return canonicalNaN64
	}
	return math.Float64bits(v)
}

// floatBits is Java's Float.floatToIntBits.
func floatBits(v float32) uint32 {
	if v != v {
		return canonicalNaN32
	}
	return math.Float32bits(v)
}

type doubleSerializer struct{}

func (doubleSerializer) Append(dst []byte, v float64) []byte {
	return binary.BigEndian.AppendUint64(dst, doubleBits(v))
}

func (doubleSerializer) Read(b []byte) (float64, []byte, error) {
	if len(b) < 8 {
		return 0, b, truncated("double", 8, len(b))
	}
	return math.Float64frombits(binary.BigEndian.Uint64(b)), b[8:], nil
}

func (doubleSerializer) Skip(b []byte) ([]byte, bool, error) {
	if len(b) < 8 {
		return b, false, truncated("double", 8, len(b))
	}
	bits := binary.BigEndian.Uint64(b)
	return b[8:], bits != doubleBits(math.Float64frombits(bits)), nil
}

func (doubleSerializer) HashCode(v float64) int32 { return longHash(doubleBits(v)) }

type floatSerializer struct{}

func (floatSerializer) Append(dst []byte, v float32) []byte {
	return binary.BigEndian.AppendUint32(dst, floatBits(v))
}

func (floatSerializer) Read(b []byte) (float32, []byte, error) {
	if len(b) < 4 {
		return 0, b, truncated("float", 4, len(b))
	}
	return math.Float32frombits(binary.BigEndian.Uint32(b)), b[4:], nil
}

func (floatSerializer) Skip(b []byte) ([]byte, bool, error) {
	if len(b) < 4 {
		return b, false, truncated("float", 4, len(b))
	}
	bits := binary.BigEndian.Uint32(b)
	return b[4:], bits != floatBits(math.Float32frombits(bits)), nil
}

func (floatSerializer) HashCode(v float32) int32 { return int32(floatBits(v)) }

type bytesSerializer struct{}

func (bytesSerializer) Append(dst []byte, v []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(v)))
	return append(dst, v...)
}

func (s bytesSerializer) Read(b []byte) ([]byte, []byte, error) {
	rest, _, err := s.Skip(b)
	if err != nil {
		return nil, b, err
	}
	return bytes.Clone(b[4 : len(b)-len(rest)]), rest, nil
}

func (bytesSerializer) Skip(b []byte) ([]byte, bool, error) {
	if len(b) < 4 {
		return b, false, truncated("byte[] length", 4, len(b))
	}
	n := int32(binary.BigEndian.Uint32(b))
	if n < 0 {
		return b, false, fmt.Errorf("%w: byte[] length %d", ErrMalformed, n)
	}
	if int(n) > len(b)-4 {
		return b, false, truncated("byte[]", int(n), len(b)-4)
	}
	return b[4+int(n):], false, nil
}

type voidSerializer struct{}

func (voidSerializer) Append(dst []byte, _ VoidNamespace) []byte { return append(dst, 0) }

func (voidSerializer) Read(b []byte) (VoidNamespace, []byte, error) {
	if len(b) < 1 {
		return VoidNamespace{}, b, truncated("VoidNamespace", 1, len(b))
	}
	return VoidNamespace{}, b[1:], nil
}

func (voidSerializer) Skip(b []byte) ([]byte, bool, error) {
	if len(b) < 1 {
		return b, false, truncated("VoidNamespace", 1, len(b))
	}
	return b[1:], b[0] != 0, nil
}

func skipFixed(b []byte, n int, what string) ([]byte, bool, error) {
	if len(b) < n {
		return b, false, truncated(what, n, len(b))
	}
	return b[n:], false, nil
}

// skipOne steps over one value serialized by s: with s's own Skip when it
// implements Skipper (no allocation), otherwise with Read and Append.
func skipOne[T any](s Serializer[T], b []byte) ([]byte, bool, error) {
	if sk, ok := s.(Skipper); ok {
		return sk.Skip(b)
	}
	v, rest, err := s.Read(b)
	if err != nil {
		return b, false, err
	}
	return rest, !bytes.Equal(s.Append(nil, v), b[:len(b)-len(rest)]), nil
}
