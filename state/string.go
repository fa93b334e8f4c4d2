package state

import (
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// stringSerializer is Flink's StringSerializer, which writes with
// StringValue.writeString: the UTF-16 length + 1 as a varint (0 is null),
// then each UTF-16 code unit as a varint (7 bits a byte, least significant
// first, high bit = more). Go strings are UTF-8: Append writes each rune as
// one code unit or, above U+FFFF, as a surrogate pair; a byte that is not
// valid UTF-8 is written as U+FFFD, as range over a string yields it. Read
// turns a lone surrogate into U+FFFD.
//
// Read mirrors Java's StringValue.readString exactly, including its
// acceptance of redundant varint bytes and its truncation of a code unit to
// 16 bits; Skip reports such input as recode.
type stringSerializer struct{}

// varintLen is the number of bytes StringValue writes for v.
func varintLen(v uint32) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func appendVarint(dst []byte, v uint32) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

// javaVarint decodes one StringValue varint from the front of b as Java
// does: int arithmetic with shift counts taken mod 32. n is the number of
// bytes read (0 when b ends first). canonical reports that the value fits
// in max and that Flink's writer would have used exactly these bytes.
func javaVarint(b []byte, max uint64) (v int32, n int, canonical bool) {
	var raw uint64
	for n < len(b) {
		c := b[n]
		if n < 9 {
			raw |= uint64(c&0x7f) << (7 * uint(n))
		}
		v |= int32(c&0x7f) << ((7 * uint(n)) & 31)
		n++
		if c < 0x80 {
			return v, n, n <= 5 && raw <= max && n == varintLen(uint32(raw))
		}
	}
	return 0, 0, false
}

// scanString steps over one serialized string. units is the UTF-16 length;
// body the bytes holding the code units. recode: non-minimal varints or a
// unit truncated to 16 bits (Java accepts both); lossy: a lone surrogate,
// which a Go string cannot hold.
func scanString(b []byte) (units int, body, rest []byte, recode, lossy bool, err error) {
	if len(b) == 0 {
		return 0, nil, b, false, false, truncated("string length", 1, 0)
	}
	if b[0] == 0 {
		return 0, nil, b, false, false, fmt.Errorf("%w: string is null", ErrNull)
	}
	l, n, canon := javaVarint(b, 0x7fffffff)
	if n == 0 {
		return 0, nil, b, false, false, fmt.Errorf("%w: string length varint", ErrTruncated)
	}
	if l-1 < 0 {
		return 0, nil, b, false, false, fmt.Errorf("%w: string length %d", ErrMalformed, int64(l)-1)
	}
	units = int(l - 1)
	recode = !canon
	p := b[n:]
	if units > len(p) {
		return 0, nil, b, false, false, truncated("string", units, len(p))
	}
	i := 0
	pendingHigh := false
	for u := 0; u < units; u++ {
		if i < len(p) && p[i] < 0x80 { // ASCII: one byte, canonical
			i++
			if pendingHigh {
				lossy, pendingHigh = true, false
			}
			continue
		}
		c, m, canonUnit := javaVarint(p[i:], 0xffff)
		if m == 0 {
			return 0, nil, b, false, false, fmt.Errorf("%w: string code unit varint", ErrTruncated)
		}
		i += m
		recode = recode || !canonUnit
		switch cu := uint16(c); {
		case utf16.IsSurrogate(rune(cu)) && cu < 0xdc00: // high surrogate
			if pendingHigh {
				lossy = true
			}
			pendingHigh = true
		case utf16.IsSurrogate(rune(cu)): // low surrogate
			if !pendingHigh {
				lossy = true
			}
			pendingHigh = false
		default:
			if pendingHigh {
				lossy, pendingHigh = true, false
			}
		}
	}
	if pendingHigh {
		lossy = true
	}
	return units, p[:i], p[i:], recode, lossy, nil
}

func (stringSerializer) Skip(b []byte) ([]byte, bool, error) {
	_, _, rest, recode, lossy, err := scanString(b)
	if err != nil {
		return b, false, err
	}
	// A lone surrogate has no Go form: Append(Read(b)) would name another
	// string, so it is not offered as an equivalent.
	return rest, recode && !lossy, nil
}

func (stringSerializer) Read(b []byte) (string, []byte, error) {
	units, body, rest, _, _, err := scanString(b)
	if err != nil {
		return "", b, err
	}
	if len(body) == units { // every unit one byte: ASCII
		return string(body), rest, nil
	}
	out := make([]byte, 0, len(body)+len(body)/2)
	var high rune = -1
	for i := 0; i < len(body); {
		c, m, _ := javaVarint(body[i:], 0xffff)
		i += m
		r := rune(uint16(c))
		if high >= 0 {
			if utf16.IsSurrogate(r) && r >= 0xdc00 {
				out = utf8.AppendRune(out, utf16.DecodeRune(high, r))
				high = -1
				continue
			}
			out = utf8.AppendRune(out, utf8.RuneError)
			high = -1
		}
		if utf16.IsSurrogate(r) {
			if r < 0xdc00 {
				high = r
				continue
			}
			r = utf8.RuneError
		}
		out = utf8.AppendRune(out, r)
	}
	if high >= 0 {
		out = utf8.AppendRune(out, utf8.RuneError)
	}
	return string(out), rest, nil
}

// isASCII reports whether every byte of s is below 0x80.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// utf16Len is the Java length() of s.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

func (stringSerializer) Append(dst []byte, s string) []byte {
	if isASCII(s) {
		dst = appendVarint(dst, uint32(len(s))+1)
		return append(dst, s...)
	}
	dst = appendVarint(dst, uint32(utf16Len(s))+1)
	for _, r := range s {
		if r >= 0x10000 {
			hi, lo := utf16.EncodeRune(r)
			dst = appendVarint(dst, uint32(hi))
			dst = appendVarint(dst, uint32(lo))
			continue
		}
		dst = appendVarint(dst, uint32(r))
	}
	return dst
}

// HashCode is Java's String.hashCode over the UTF-16 code units.
func (stringSerializer) HashCode(s string) int32 { return StringHash(s) }

// StringHash is Java's String.hashCode of s: h = 31*h + unit over its
// UTF-16 code units, with int32 wrap-around.
func StringHash(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 {
			hi, lo := utf16.EncodeRune(r)
			h = 31*h + hi
			h = 31*h + lo
			continue
		}
		h = 31*h + r
	}
	return h
}

// HashSerialized returns the Java hashCode of the string serialized at the
// front of b (what HashCode returns for the string Read would build),
// without building it: a state that keys its storage by key group computes
// the key group of a query's key bytes without allocating. Errors are
// those of Read.
func (stringSerializer) HashSerialized(b []byte) (int32, error) {
	units, body, _, _, lossy, err := scanString(b)
	if err != nil {
		return 0, err
	}
	if lossy { // a lone surrogate: hash the string Read builds, as HashCode would
		s, _, err := stringSerializer{}.Read(b)
		return StringHash(s), err
	}
	var h int32
	if len(body) == units {
		for _, c := range body {
			h = 31*h + int32(c)
		}
		return h, nil
	}
	for i := 0; i < len(body); {
		c, m, _ := javaVarint(body[i:], 0xffff)
		i += m
		h = 31*h + int32(uint16(c))
	}
	return h, nil
}
