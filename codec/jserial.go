package codec

import (
	"encoding/binary"
	"fmt"
	"math"
	"unicode/utf8"
)

// Limits of readThrowable on hostile input. Real JDK Throwables stay far
// below them: a 10-deep cause chain with 200-frame stack traces uses ~12
// nesting levels, ~10,000 handles and ~25,000 work units.
const (
	// maxNesting bounds how deeply values nest (objects, arrays, class
	// descriptors, annotations), hence the reader's recursion.
	maxNesting = 128
	// maxHandles bounds the handle table (strings, class descriptors, objects,
	// arrays, enums, classes).
	maxHandles = 1 << 16
	// maxWork bounds the number of values, fields, array elements,
	// block-data chunks and per-class data sections read.
	maxWork = 1 << 18
	// maxClassChain bounds a class descriptor's superclass chain.
	maxClassChain = 64
)

// entryKind tells what a value or handle is.
type entryKind uint8

const (
	kNull      entryKind = iota
	kString              // TC_STRING or TC_LONGSTRING; off, n locate its modified UTF-8
	kClass               // class descriptor
	kObject              // object that is not a Throwable, array, enum constant, Class
	kThrowable           // object whose class descends from java.lang.Throwable
)

// entry is a value read, or a handle table slot.
type entry struct {
	kind entryKind
	off  int32 // kString: bytes b[off:off+n]
	n    int32
	cls  *jclass     // kClass
	obj  *jthrowable // kThrowable
}

// jclass is a class descriptor read from the stream.
type jclass struct {
	nameOff   int32
	nameLen   int32
	flags     byte
	proxy     bool
	complete  bool // its superclass descriptor has been read
	throwable bool // it or a superclass is java.lang.Throwable
	isTop     bool // it is java.lang.Throwable itself
	depth     int  // classes in its chain, itself included
	fields    []jfield
	super     *jclass
}

// jfield is a field of a class descriptor.
type jfield struct {
	code    byte
	nameOff int32
	nameLen int32
}

// jthrowable is what the reader keeps of a Throwable object.
type jthrowable struct {
	cls    *jclass
	msg    entry // kString or kNull
	cause  *jthrowable
	hasMsg bool
}

// jreader reads one serialization stream. It reads from b only and never
// writes to it. Class descriptors, fields and Throwables are carved from
// slabs (the first ones inline), so a typical stream costs a handful of
// allocations; a slab is replaced, never grown, so pointers stay valid.
type jreader struct {
	b          []byte
	off        int
	handles    []entry
	work       int
	classes    []jclass
	fields     []jfield
	throwables []jthrowable

	handleBuf    [32]entry
	classBuf     [8]jclass
	fieldBuf     [16]jfield
	throwableBuf [2]jthrowable
}

func (r *jreader) newClass() *jclass {
	if len(r.classes) == cap(r.classes) {
		r.classes = make([]jclass, 0, 16)
	}
	r.classes = r.classes[:len(r.classes)+1]
	return &r.classes[len(r.classes)-1]
}

func (r *jreader) newFields(n int) []jfield {
	if cap(r.fields)-len(r.fields) < n {
		r.fields = make([]jfield, 0, max(n, 64))
	}
	f := r.fields[len(r.fields) : len(r.fields)+n : len(r.fields)+n]
	r.fields = r.fields[:len(r.fields)+n]
	return f
}

func (r *jreader) newThrowable(c *jclass) *jthrowable {
	if len(r.throwables) == cap(r.throwables) {
		r.throwables = make([]jthrowable, 0, 8)
	}
	r.throwables = append(r.throwables, jthrowable{cls: c})
	return &r.throwables[len(r.throwables)-1]
}

// DecodeFailure returns the exception a REQUEST_FAILURE or SERVER_FAILURE
// frame carries (f.Body, a Java serialization stream of a Throwable): its
// class name, detail message and cause chain, sharing nothing with f. It
// reads any stream a JVM writes (a Flink node's real stack traces, classes
// it does not know) and never panics on hostile input: an error wraps
// ErrJavaStream (or ErrCauseChainTooLong), or ErrUnexpectedType for a frame
// of another type. How the stream is read is this package's business.
func DecodeFailure(f Frame) (*JavaException, error) {
	if f.Type != RequestFailure && f.Type != ServerFailure {
		return nil, fmt.Errorf("%w: %s carries no failure", ErrUnexpectedType, f.Type)
	}
	return readThrowable(f.Body)
}

// readThrowable parses a failure payload, the Java serialization stream of a
// Throwable (as ObjectOutputStream.writeObject writes it), into its class
// name, detail message and cause chain. A cause that refers to the object
// itself (the JDK's "no cause") or back to an exception already in the chain
// ends the chain. Bytes after the object are ignored, as Java ignores them.
//
// It reads any well-formed stream: unknown classes, custom writeObject data,
// externalizable block data, proxies, enums, arrays, stack traces and
// suppressed lists are parsed and skipped. Malformed or hostile input
// returns an error wrapping ErrJavaStream with the offset; nesting, handle
// count, total work and the cause chain (MaxCauseChain) are bounded, and
// every length is checked against the bytes left before it is used.
// The result does not retain payload.
func readThrowable(payload []byte) (*JavaException, error) {
	if len(payload) > math.MaxInt32 {
		return nil, fmt.Errorf("%w: payload of %d bytes", ErrJavaStream, len(payload))
	}
	r := &jreader{b: payload}
	r.handles, r.classes, r.fields, r.throwables = r.handleBuf[:0], r.classBuf[:0], r.fieldBuf[:0], r.throwableBuf[:0]
	if len(payload) < 4 || binary.BigEndian.Uint16(payload) != streamMagic || binary.BigEndian.Uint16(payload[2:]) != streamVersion {
		return nil, r.errf("no stream header AC ED 00 05")
	}
	r.off = 4
	for r.off < len(r.b) && r.b[r.off] == tcReset {
		r.off++
		r.handles = r.handles[:0]
	}
	start := r.off
	v, err := r.value(0)
	if err != nil {
		return nil, err
	}
	if v.kind != kThrowable {
		r.off = start
		return nil, r.errf("top-level value is not a Throwable")
	}
	return r.exception(v.obj)
}

// exception converts the reader's Throwable graph into a JavaException chain.
func (r *jreader) exception(t *jthrowable) (*JavaException, error) {
	var chain [MaxCauseChain]*jthrowable
	n := 0
outer:
	for x := t; x != nil; x = x.cause {
		for _, y := range chain[:n] {
			if y == x {
				break outer
			}
		}
		if n == MaxCauseChain {
			return nil, fmt.Errorf("%w: %w: more than %d exceptions", ErrJavaStream, ErrCauseChainTooLong, MaxCauseChain)
		}
		chain[n] = x
		n++
	}
	out := make([]JavaException, n)
	for i, x := range chain[:n] {
		out[i].Class = r.className(x.cls)
		if x.hasMsg {
			out[i].Message = decodeModUTF8(r.b[x.msg.off : x.msg.off+x.msg.n])
		}
		if i+1 < n {
			out[i].Cause = &out[i+1]
		}
	}
	return &out[0], nil
}

// className returns c's name, without allocating for the classes we know.
func (r *jreader) className(c *jclass) string {
	if c.proxy {
		return "$Proxy"
	}
	b := r.b[c.nameOff : c.nameOff+c.nameLen]
	switch string(b) {
	case nameRuntime:
		return nameRuntime
	case nameIllegalState:
		return nameIllegalState
	case nameIllegalArgument:
		return nameIllegalArgument
	case nameBadRequest:
		return nameBadRequest
	case nameUnknownKvStateID:
		return nameUnknownKvStateID
	case nameUnknownKeyOrNS:
		return nameUnknownKeyOrNS
	case nameUnknownKeyGroup:
		return nameUnknownKeyGroup
	case nameUnknownLocation:
		return nameUnknownLocation
	}
	return decodeModUTF8(b)
}

func (r *jreader) errf(format string, args ...any) error {
	return fmt.Errorf("%w: offset %d: %s", ErrJavaStream, r.off, fmt.Sprintf(format, args...))
}

// need checks that n more bytes are there.
func (r *jreader) need(n int) error {
	if n < 0 || len(r.b)-r.off < n {
		return r.errf("truncated: %d bytes needed, %d left", n, len(r.b)-r.off)
	}
	return nil
}

// spend counts n units of work.
func (r *jreader) spend(n int) error {
	r.work += n
	if r.work > maxWork || n < 0 {
		return r.errf("more than %d values", maxWork)
	}
	return nil
}

func (r *jreader) u8() (byte, error) {
	if err := r.need(1); err != nil {
		return 0, err
	}
	r.off++
	return r.b[r.off-1], nil
}

func (r *jreader) u16() (int, error) {
	if err := r.need(2); err != nil {
		return 0, err
	}
	r.off += 2
	return int(binary.BigEndian.Uint16(r.b[r.off-2:])), nil
}

func (r *jreader) i32() (int32, error) {
	if err := r.need(4); err != nil {
		return 0, err
	}
	r.off += 4
	return int32(binary.BigEndian.Uint32(r.b[r.off-4:])), nil
}

// utf reads a u16-length modified UTF-8 string (names), returning where it is.
func (r *jreader) utf() (off, n int32, err error) {
	ln, err := r.u16()
	if err != nil {
		return 0, 0, err
	}
	return r.utfBytes(ln)
}

// utfBytes takes the next n bytes as modified UTF-8 after checking them.
func (r *jreader) utfBytes(n int) (off, ln int32, err error) {
	if err := r.need(n); err != nil {
		return 0, 0, err
	}
	if !validModUTF8(r.b[r.off : r.off+n]) {
		return 0, 0, r.errf("malformed modified UTF-8 in a %d-byte string", n)
	}
	off = int32(r.off)
	r.off += n
	return off, int32(n), nil
}

// newHandle assigns the next handle to e.
func (r *jreader) newHandle(e entry) (int, error) {
	if len(r.handles) >= maxHandles {
		return 0, r.errf("more than %d handles", maxHandles)
	}
	r.handles = append(r.handles, e)
	return len(r.handles) - 1, nil
}

// reference reads TC_REFERENCE and its handle.
func (r *jreader) reference() (entry, error) {
	r.off++
	h, err := r.i32()
	if err != nil {
		return entry{}, err
	}
	i := int64(uint32(h)) - baseHandle
	if i < 0 || i >= int64(len(r.handles)) {
		r.off -= 4
		return entry{}, r.errf("reference to unknown handle 0x%08x (%d assigned)", uint32(h), len(r.handles))
	}
	return r.handles[i], nil
}

// value reads one value (readObject0 in the JDK) nested depth levels deep.
func (r *jreader) value(depth int) (entry, error) {
	if depth > maxNesting {
		return entry{}, r.errf("values nested deeper than %d", maxNesting)
	}
	if err := r.spend(1); err != nil {
		return entry{}, err
	}
	if err := r.need(1); err != nil {
		return entry{}, err
	}
	switch tc := r.b[r.off]; tc {
	case tcNull:
		r.off++
		return entry{kind: kNull}, nil
	case tcReference:
		return r.reference()
	case tcString, tcLongString:
		return r.newString()
	case tcClassDesc, tcProxyClassDesc:
		c, err := r.classDesc(depth)
		return entry{kind: kClass, cls: c}, err
	case tcClass:
		r.off++
		if _, err := r.requiredClassDesc(depth+1, "TC_CLASS"); err != nil {
			return entry{}, err
		}
		e := entry{kind: kObject}
		_, err := r.newHandle(e)
		return e, err
	case tcArray:
		return r.array(depth)
	case tcEnum:
		return r.enum(depth)
	case tcObject:
		return r.object(depth)
	case tcReset:
		return entry{}, r.errf("TC_RESET inside an object")
	case tcBlockData, tcBlockDataLong:
		return entry{}, r.errf("block data where a value was expected")
	case tcEndBlockData:
		return entry{}, r.errf("TC_ENDBLOCKDATA where a value was expected")
	case tcException:
		return entry{}, r.errf("TC_EXCEPTION: the writer failed while writing")
	default:
		return entry{}, r.errf("unknown type code 0x%02x", tc)
	}
}

// newString reads TC_STRING or TC_LONGSTRING.
func (r *jreader) newString() (entry, error) {
	tc := r.b[r.off]
	r.off++
	var n int
	if tc == tcString {
		v, err := r.u16()
		if err != nil {
			return entry{}, err
		}
		n = v
	} else {
		if err := r.need(8); err != nil {
			return entry{}, err
		}
		v := binary.BigEndian.Uint64(r.b[r.off:])
		r.off += 8
		if v > uint64(len(r.b)-r.off) {
			r.off -= 8
			return entry{}, r.errf("long string of %d bytes, %d left", v, len(r.b)-r.off-8)
		}
		n = int(v)
	}
	off, ln, err := r.utfBytes(n)
	if err != nil {
		return entry{}, err
	}
	e := entry{kind: kString, off: off, n: ln}
	_, err = r.newHandle(e)
	return e, err
}

// classDesc reads a class descriptor slot: TC_CLASSDESC, TC_PROXYCLASSDESC,
// TC_REFERENCE to a descriptor, or TC_NULL (nil).
func (r *jreader) classDesc(depth int) (*jclass, error) {
	if depth > maxNesting {
		return nil, r.errf("values nested deeper than %d", maxNesting)
	}
	if err := r.spend(1); err != nil {
		return nil, err
	}
	if err := r.need(1); err != nil {
		return nil, err
	}
	switch tc := r.b[r.off]; tc {
	case tcNull:
		r.off++
		return nil, nil
	case tcReference:
		e, err := r.reference()
		if err != nil {
			return nil, err
		}
		if e.kind != kClass {
			return nil, r.errf("reference to a non-descriptor where a class descriptor was expected")
		}
		return e.cls, nil
	case tcClassDesc:
		return r.newClassDesc(depth)
	case tcProxyClassDesc:
		return r.newProxyDesc(depth)
	default:
		return nil, r.errf("type code 0x%02x where a class descriptor was expected", tc)
	}
}

// requiredClassDesc reads the descriptor of an object, array, enum or Class:
// it must be present and completely read.
func (r *jreader) requiredClassDesc(depth int, what string) (*jclass, error) {
	at := r.off
	c, err := r.classDesc(depth)
	if err != nil {
		return nil, err
	}
	if c == nil || !c.complete {
		r.off = at
		return nil, r.errf("%s without a complete class descriptor", what)
	}
	return c, nil
}

// newClassDesc reads TC_CLASSDESC: name, serialVersionUID, flags, fields,
// annotation, superclass descriptor.
func (r *jreader) newClassDesc(depth int) (*jclass, error) {
	r.off++
	nameOff, nameLen, err := r.utf()
	if err != nil {
		return nil, err
	}
	if err := r.need(8 + 1 + 2); err != nil {
		return nil, err
	}
	r.off += 8 // serialVersionUID: any value is read
	c := r.newClass()
	c.nameOff, c.nameLen = nameOff, nameLen
	if _, err := r.newHandle(entry{kind: kClass, cls: c}); err != nil {
		return nil, err
	}
	c.flags = r.b[r.off]
	r.off++
	if c.flags&scSerializable != 0 && c.flags&scExternalizable != 0 {
		return nil, r.errf("class descriptor both serializable and externalizable")
	}
	nf, _ := r.u16()
	if err := r.need(3 * nf); err != nil { // a field takes at least 3 bytes
		return nil, err
	}
	if err := r.spend(nf); err != nil {
		return nil, err
	}
	if nf > 0 {
		c.fields = r.newFields(nf)
	}
	sawObject := false
	for i := range c.fields {
		code, err := r.u8()
		if err != nil {
			return nil, err
		}
		fo, fl, err := r.utf()
		if err != nil {
			return nil, err
		}
		switch code {
		case 'B', 'C', 'D', 'F', 'I', 'J', 'S', 'Z':
			if sawObject {
				return nil, r.errf("primitive field after an object field")
			}
		case 'L', '[':
			sawObject = true
			if err := r.typeString(); err != nil {
				return nil, err
			}
		default:
			return nil, r.errf("field type code 0x%02x", code)
		}
		c.fields[i] = jfield{code: code, nameOff: fo, nameLen: fl}
	}
	if err := r.annotation(depth + 1); err != nil {
		return nil, err
	}
	c.isTop = string(r.b[nameOff:nameOff+nameLen]) == nameThrowable
	return c, r.finishClass(c, depth)
}

// newProxyDesc reads TC_PROXYCLASSDESC: interface names, annotation,
// superclass descriptor.
func (r *jreader) newProxyDesc(depth int) (*jclass, error) {
	r.off++
	c := r.newClass()
	c.proxy, c.flags = true, scSerializable
	if _, err := r.newHandle(entry{kind: kClass, cls: c}); err != nil {
		return nil, err
	}
	n, err := r.i32()
	if err != nil {
		return nil, err
	}
	if n < 0 || n > 65535 {
		return nil, r.errf("proxy with %d interfaces", n)
	}
	if err := r.need(2 * int(n)); err != nil {
		return nil, err
	}
	if err := r.spend(int(n)); err != nil {
		return nil, err
	}
	for range n {
		if _, _, err := r.utf(); err != nil {
			return nil, err
		}
	}
	if err := r.annotation(depth + 1); err != nil {
		return nil, err
	}
	return c, r.finishClass(c, depth)
}

// finishClass reads c's superclass descriptor and completes c.
func (r *jreader) finishClass(c *jclass, depth int) error {
	at := r.off
	super, err := r.classDesc(depth + 1)
	if err != nil {
		return err
	}
	c.depth = 1
	c.throwable = c.isTop
	if super != nil {
		if !super.complete {
			r.off = at
			return r.errf("superclass descriptor refers to a descriptor still being read")
		}
		c.super = super
		c.depth = super.depth + 1
		c.throwable = c.throwable || super.throwable
	}
	if c.depth > maxClassChain {
		r.off = at
		return r.errf("class hierarchy deeper than %d", maxClassChain)
	}
	c.complete = true
	return nil
}

// typeString reads a field's class-name string (TC_STRING, TC_LONGSTRING,
// TC_REFERENCE to a string, or TC_NULL).
func (r *jreader) typeString() error {
	if err := r.need(1); err != nil {
		return err
	}
	switch r.b[r.off] {
	case tcNull:
		r.off++
		return nil
	case tcReference:
		e, err := r.reference()
		if err != nil {
			return err
		}
		if e.kind != kString {
			return r.errf("field type refers to a non-string")
		}
		return nil
	case tcString, tcLongString:
		_, err := r.newString()
		return err
	}
	return r.errf("type code 0x%02x where a field type string was expected", r.b[r.off])
}

// annotation skips block data and values up to and including
// TC_ENDBLOCKDATA: a class annotation, writeObject data, or
// externalizable block data.
func (r *jreader) annotation(depth int) error {
	for {
		if err := r.spend(1); err != nil {
			return err
		}
		if err := r.need(1); err != nil {
			return err
		}
		switch r.b[r.off] {
		case tcEndBlockData:
			r.off++
			return nil
		case tcBlockData:
			r.off++
			n, err := r.u8()
			if err != nil {
				return err
			}
			if err := r.need(int(n)); err != nil {
				return err
			}
			r.off += int(n)
		case tcBlockDataLong:
			r.off++
			n, err := r.i32()
			if err != nil {
				return err
			}
			if n < 0 {
				return r.errf("block data of %d bytes", n)
			}
			if err := r.need(int(n)); err != nil {
				return err
			}
			r.off += int(n)
		default:
			if _, err := r.value(depth); err != nil {
				return err
			}
		}
	}
}

// primSize is the size of a primitive field or array element (0: not primitive).
func primSize(code byte) int {
	switch code {
	case 'B', 'Z':
		return 1
	case 'C', 'S':
		return 2
	case 'I', 'F':
		return 4
	case 'J', 'D':
		return 8
	}
	return 0
}

// array reads TC_ARRAY: descriptor, length, elements.
func (r *jreader) array(depth int) (entry, error) {
	r.off++
	c, err := r.requiredClassDesc(depth+1, "TC_ARRAY")
	if err != nil {
		return entry{}, err
	}
	name := r.b[c.nameOff : c.nameOff+c.nameLen]
	if c.proxy || len(name) < 2 || name[0] != '[' {
		return entry{}, r.errf("TC_ARRAY of non-array class %q", name)
	}
	if _, err := r.newHandle(entry{kind: kObject}); err != nil {
		return entry{}, err
	}
	n, err := r.i32()
	if err != nil {
		return entry{}, err
	}
	if n < 0 {
		return entry{}, r.errf("array length %d", n)
	}
	switch elem := name[1]; elem {
	case 'L', '[':
		if err := r.need(int(n)); err != nil { // an element takes at least one byte
			return entry{}, err
		}
		if err := r.spend(int(n)); err != nil {
			return entry{}, err
		}
		for range n {
			if _, err := r.value(depth + 1); err != nil {
				return entry{}, err
			}
		}
	default:
		size := primSize(elem)
		if size == 0 {
			return entry{}, r.errf("array class %q", name)
		}
		if int64(n)*int64(size) > int64(len(r.b)-r.off) {
			return entry{}, r.errf("truncated: array of %d %c elements, %d bytes left", n, elem, len(r.b)-r.off)
		}
		r.off += int(n) * size
	}
	return entry{kind: kObject}, nil
}

// enum reads TC_ENUM: descriptor, constant name.
func (r *jreader) enum(depth int) (entry, error) {
	r.off++
	if _, err := r.requiredClassDesc(depth+1, "TC_ENUM"); err != nil {
		return entry{}, err
	}
	e := entry{kind: kObject}
	if _, err := r.newHandle(e); err != nil {
		return entry{}, err
	}
	at := r.off
	name, err := r.value(depth + 1)
	if err != nil {
		return entry{}, err
	}
	if name.kind != kString {
		r.off = at
		return entry{}, r.errf("enum constant name is not a string")
	}
	return e, nil
}

// object reads TC_OBJECT: descriptor, then each class's data from the
// top-most superclass down (or the externalizable block data).
func (r *jreader) object(depth int) (entry, error) {
	r.off++
	c, err := r.requiredClassDesc(depth+1, "TC_OBJECT")
	if err != nil {
		return entry{}, err
	}
	e := entry{kind: kObject}
	var t *jthrowable
	if c.throwable {
		t = r.newThrowable(c)
		e = entry{kind: kThrowable, obj: t}
	}
	if _, err := r.newHandle(e); err != nil {
		return entry{}, err
	}
	if c.flags&scExternalizable != 0 {
		if c.flags&scBlockData == 0 {
			return entry{}, r.errf("externalizable data without block data (protocol 1) cannot be skipped")
		}
		return e, r.annotation(depth + 1)
	}
	var chain [maxClassChain]*jclass
	k := 0
	for x := c; x != nil; x = x.super {
		chain[k] = x
		k++
	}
	for i := k - 1; i >= 0; i-- {
		x := chain[i]
		if err := r.spend(1); err != nil {
			return entry{}, err
		}
		if x.flags&scExternalizable != 0 {
			continue
		}
		for _, f := range x.fields {
			if size := primSize(f.code); size > 0 {
				if err := r.need(size); err != nil {
					return entry{}, err
				}
				r.off += size
				continue
			}
			at := r.off
			v, err := r.value(depth + 1)
			if err != nil {
				return entry{}, err
			}
			if t != nil && x.isTop {
				if err := r.throwableField(t, f, v, at); err != nil {
					return entry{}, err
				}
			}
		}
		if x.flags&scWriteMethod != 0 {
			if err := r.annotation(depth + 1); err != nil {
				return entry{}, err
			}
		}
	}
	return e, nil
}

// throwableField keeps java.lang.Throwable's cause and detailMessage.
func (r *jreader) throwableField(t *jthrowable, f jfield, v entry, at int) error {
	switch string(r.b[f.nameOff : f.nameOff+f.nameLen]) {
	case "cause":
		switch v.kind {
		case kNull:
			t.cause = nil
		case kThrowable:
			t.cause = v.obj
		default:
			r.off = at
			return r.errf("Throwable.cause is not a Throwable")
		}
	case "detailMessage":
		switch v.kind {
		case kNull:
			t.hasMsg = false
		case kString:
			t.msg, t.hasMsg = v, true
		default:
			r.off = at
			return r.errf("Throwable.detailMessage is not a string")
		}
	}
	return nil
}

// validModUTF8 reports whether b is modified UTF-8 as Java's readUTF
// accepts it: 1-byte 0xxxxxxx, 2-byte 110xxxxx 10xxxxxx, 3-byte 1110xxxx
// 10xxxxxx 10xxxxxx (overlong forms and lone surrogates included).
func validModUTF8(b []byte) bool {
	for i := 0; i < len(b); {
		c := b[i]
		switch c >> 4 {
		case 0, 1, 2, 3, 4, 5, 6, 7:
			i++
		case 12, 13:
			if i+1 >= len(b) || b[i+1]&0xC0 != 0x80 {
				return false
			}
			i += 2
		case 14:
			if i+2 >= len(b) || b[i+1]&0xC0 != 0x80 || b[i+2]&0xC0 != 0x80 {
				return false
			}
			i += 3
		default:
			return false
		}
	}
	return true
}

// decodeModUTF8 converts modified UTF-8 that validModUTF8 accepted to a Go
// string: surrogate pairs become one character, lone surrogates U+FFFD.
func decodeModUTF8(b []byte) string {
	i := 0
	for i < len(b) && b[i] < utf8.RuneSelf {
		i++
	}
	if i == len(b) {
		return string(b)
	}
	out := make([]byte, i, len(b)+len(b)/2)
	copy(out, b[:i])
	var high rune = -1 // pending high surrogate
	for i < len(b) {
		var u rune
		switch c := b[i]; c >> 4 {
		case 12, 13:
			u = rune(c&0x1F)<<6 | rune(b[i+1]&0x3F)
			i += 2
		case 14:
			u = rune(c&0x0F)<<12 | rune(b[i+1]&0x3F)<<6 | rune(b[i+2]&0x3F)
			i += 3
		default:
			u = rune(c)
			i++
		}
		if high >= 0 {
			if u >= 0xDC00 && u <= 0xDFFF {
				out = utf8.AppendRune(out, 0x10000+(high-0xD800)<<10+(u-0xDC00))
				high = -1
				continue
			}
			out = utf8.AppendRune(out, utf8.RuneError)
			high = -1
		}
		if u >= 0xD800 && u <= 0xDBFF {
			high = u
			continue
		}
		out = utf8.AppendRune(out, u) // a lone low surrogate becomes U+FFFD
	}
	if high >= 0 {
		out = utf8.AppendRune(out, utf8.RuneError)
	}
	return string(out)
}
