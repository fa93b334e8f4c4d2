package state

import "fmt"

// Separators of Flink's KvStateSerializer formats.
const (
	// Magic is the byte between the key and the namespace in serialized
	// key-and-namespace bytes (KvStateSerializer's MAGIC_NUMBER, 42).
	Magic = 0x2A
	// ListSeparator is the byte Flink writes between list elements (',').
	ListSeparator = 0x2C
)

// AppendKeyAndNamespace appends Flink's serialized key and namespace
// (KvStateSerializer.serializeKeyAndNamespace): key bytes, Magic, namespace
// bytes. This is what a client sends and what a KvState's Get takes.
func AppendKeyAndNamespace[K, N any](dst []byte, ks Serializer[K], key K, ns Serializer[N], n N) []byte {
	dst = ks.Append(dst, key)
	dst = append(dst, Magic)
	return ns.Append(dst, n)
}

// ReadKeyAndNamespace parses serialized key-and-namespace bytes as Flink's
// KvStateSerializer.deserializeKeyAndNamespace does: key, magic byte 0x2A,
// namespace, nothing after. Errors wrap ErrBadKeyAndNamespace.
func ReadKeyAndNamespace[K, N any](ks Serializer[K], ns Serializer[N], b []byte) (key K, n N, err error) {
	key, rest, err := ks.Read(b)
	if err != nil {
		return key, n, fmt.Errorf("%w: key: %w", ErrBadKeyAndNamespace, err)
	}
	if err := checkMagic(rest); err != nil {
		return key, n, err
	}
	n, rest, err = ns.Read(rest[1:])
	if err != nil {
		return key, n, fmt.Errorf("%w: namespace: %w", ErrBadKeyAndNamespace, err)
	}
	if len(rest) > 0 {
		return key, n, errUnconsumed(len(rest))
	}
	return key, n, nil
}

func checkMagic(rest []byte) error {
	if len(rest) == 0 {
		return fmt.Errorf("%w: no magic number after the key: %w", ErrBadKeyAndNamespace, ErrTruncated)
	}
	if rest[0] != Magic {
		// Java prints the byte signed.
		return fmt.Errorf("%w: Unexpected magic number %d.", ErrBadKeyAndNamespace, int8(rest[0]))
	}
	return nil
}

func errUnconsumed(n int) error {
	return fmt.Errorf("%w: Unconsumed bytes in the serialized key and namespace (%d).", ErrBadKeyAndNamespace, n)
}

// AppendList appends Flink's list content (HeapListState's serialized value,
// read by KvStateSerializer.deserializeList): the elements back to back with
// one ListSeparator byte between them. An empty list appends nothing.
func AppendList[T any](dst []byte, s Serializer[T], elems []T) []byte {
	for i, e := range elems {
		if i > 0 {
			dst = append(dst, ListSeparator)
		}
		dst = s.Append(dst, e)
	}
	return dst
}

// ReadList parses list content as KvStateSerializer.deserializeList: read
// an element; if bytes remain, skip one byte (whatever it is); repeat.
// Empty content is an empty (nil) list.
func ReadList[T any](s Serializer[T], b []byte) ([]T, error) {
	var out []T
	for len(b) > 0 {
		v, rest, err := s.Read(b)
		if err != nil {
			return out, fmt.Errorf("list element %d: %w", len(out), err)
		}
		out = append(out, v)
		b = rest
		if len(b) > 0 {
			b = b[1:]
		}
	}
	return out, nil
}

// MapEntry is one entry of map content; a nil Value is Java's null.
type MapEntry[K, V any] struct {
	Key   K
	Value *V
}

// AppendMap appends Flink's map content (KvStateSerializer.serializeMap):
// per entry the key, 0x00 and the value. The entries go in Go's map
// iteration order; Flink's readers build a HashMap, so order is irrelevant
// to them. Use AppendMapEntries for a chosen order or null values.
func AppendMap[K comparable, V any](dst []byte, ks Serializer[K], vs Serializer[V], m map[K]V) []byte {
	for k, v := range m {
		dst = ks.Append(dst, k)
		dst = append(dst, 0)
		dst = vs.Append(dst, v)
	}
	return dst
}

// AppendMapEntries appends map content for entries in the given order: per
// entry the key, then 0x01 for a nil Value (null, nothing follows) or 0x00
// and the value.
func AppendMapEntries[K, V any](dst []byte, ks Serializer[K], vs Serializer[V], entries []MapEntry[K, V]) []byte {
	for _, e := range entries {
		dst = ks.Append(dst, e.Key)
		if e.Value == nil {
			dst = append(dst, 1)
			continue
		}
		dst = append(dst, 0)
		dst = vs.Append(dst, *e.Value)
	}
	return dst
}

// ReadMap parses map content as KvStateSerializer.deserializeMap: until the
// bytes end, a key, a boolean (non-zero: the value is null, nothing
// follows), the value. A nil *V is a null value; a repeated key keeps the
// last value, as Java's HashMap.put does. Empty content is an empty map.
func ReadMap[K comparable, V any](ks Serializer[K], vs Serializer[V], b []byte) (map[K]*V, error) {
	out := make(map[K]*V)
	for len(b) > 0 {
		k, rest, err := ks.Read(b)
		if err != nil {
			return out, fmt.Errorf("map entry %d key: %w", len(out), err)
		}
		if len(rest) == 0 {
			return out, fmt.Errorf("map entry %d null flag: %w", len(out), ErrTruncated)
		}
		if rest[0] != 0 {
			out[k] = nil
			b = rest[1:]
			continue
		}
		v, rest, err := vs.Read(rest[1:])
		if err != nil {
			return out, fmt.Errorf("map entry %d value: %w", len(out), err)
		}
		out[k] = &v
		b = rest
	}
	return out, nil
}
