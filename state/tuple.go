package state

// Tuple2 is Flink's Tuple2: two fields, serialized back to back by Flink's
// TupleSerializer (no header, no null markers).
type Tuple2[A, B any] struct {
	F0 A
	F1 B
}

// Tuple3 is Flink's Tuple3.
type Tuple3[A, B, C any] struct {
	F0 A
	F1 B
	F2 C
}

// Tuple2Serializer is Flink's TupleSerializer for a Tuple2 whose fields use
// the given serializers (any Serializer, Bytes included). Use Tuple2Of for
// a key.
type Tuple2Serializer[A, B any] struct {
	F0 Serializer[A]
	F1 Serializer[B]
}

// Append appends the fields back to back.
func (s Tuple2Serializer[A, B]) Append(dst []byte, v Tuple2[A, B]) []byte {
	return s.F1.Append(s.F0.Append(dst, v.F0), v.F1)
}

// Read reads the fields in order.
func (s Tuple2Serializer[A, B]) Read(b []byte) (v Tuple2[A, B], rest []byte, err error) {
	if v.F0, rest, err = s.F0.Read(b); err != nil {
		return v, b, err
	}
	if v.F1, rest, err = s.F1.Read(rest); err != nil {
		return v, b, err
	}
	return v, rest, nil
}

// Skip steps over both fields (see Skipper).
func (s Tuple2Serializer[A, B]) Skip(b []byte) ([]byte, bool, error) {
	rest, r0, err := skipOne(s.F0, b)
	if err != nil {
		return b, false, err
	}
	rest, r1, err := skipOne(s.F1, rest)
	if err != nil {
		return b, false, err
	}
	return rest, r0 || r1, nil
}

// Tuple3Serializer is Flink's TupleSerializer for a Tuple3. Use Tuple3Of for
// a key.
type Tuple3Serializer[A, B, C any] struct {
	F0 Serializer[A]
	F1 Serializer[B]
	F2 Serializer[C]
}

// Append appends the fields back to back.
func (s Tuple3Serializer[A, B, C]) Append(dst []byte, v Tuple3[A, B, C]) []byte {
	return s.F2.Append(s.F1.Append(s.F0.Append(dst, v.F0), v.F1), v.F2)
}

// Read reads the fields in order.
func (s Tuple3Serializer[A, B, C]) Read(b []byte) (v Tuple3[A, B, C], rest []byte, err error) {
	if v.F0, rest, err = s.F0.Read(b); err != nil {
		return v, b, err
	}
	if v.F1, rest, err = s.F1.Read(rest); err != nil {
		return v, b, err
	}
	if v.F2, rest, err = s.F2.Read(rest); err != nil {
		return v, b, err
	}
	return v, rest, nil
}

// Skip steps over the three fields (see Skipper).
func (s Tuple3Serializer[A, B, C]) Skip(b []byte) ([]byte, bool, error) {
	rest, r0, err := skipOne(s.F0, b)
	if err != nil {
		return b, false, err
	}
	rest, r1, err := skipOne(s.F1, rest)
	if err != nil {
		return b, false, err
	}
	rest, r2, err := skipOne(s.F2, rest)
	if err != nil {
		return b, false, err
	}
	return rest, r0 || r1 || r2, nil
}

type tuple2Key[A, B any] struct {
	Tuple2Serializer[A, B]
	h0 KeySerializer[A]
	h1 KeySerializer[B]
}

func (s tuple2Key[A, B]) HashCode(v Tuple2[A, B]) int32 {
	return 31*s.h0.HashCode(v.F0) + s.h1.HashCode(v.F1)
}

// Tuple2Of returns the key serializer of a Tuple2 of keys: Flink's
// TupleSerializer, and Java's Tuple2.hashCode (31*hash(f0) + hash(f1)).
func Tuple2Of[A, B any](a KeySerializer[A], b KeySerializer[B]) KeySerializer[Tuple2[A, B]] {
	return tuple2Key[A, B]{Tuple2Serializer[A, B]{a, b}, a, b}
}

type tuple3Key[A, B, C any] struct {
	Tuple3Serializer[A, B, C]
	h0 KeySerializer[A]
	h1 KeySerializer[B]
	h2 KeySerializer[C]
}

func (s tuple3Key[A, B, C]) HashCode(v Tuple3[A, B, C]) int32 {
	return 31*(31*s.h0.HashCode(v.F0)+s.h1.HashCode(v.F1)) + s.h2.HashCode(v.F2)
}

// Tuple3Of returns the key serializer of a Tuple3 of keys: Flink's
// TupleSerializer, and Java's Tuple3.hashCode.
func Tuple3Of[A, B, C any](a KeySerializer[A], b KeySerializer[B], c KeySerializer[C]) KeySerializer[Tuple3[A, B, C]] {
	return tuple3Key[A, B, C]{Tuple3Serializer[A, B, C]{a, b, c}, a, b, c}
}
