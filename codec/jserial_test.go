package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

// sentinelsFor is the sentinels a class must match with errors.Is (nil: none).
func sentinelsFor(class string) []error {
	switch class {
	case "org.apache.flink.queryablestate.exceptions.UnknownKeyOrNamespaceException":
		return []error{ErrUnknownKeyOrNamespace, ErrBadRequest}
	case "org.apache.flink.queryablestate.exceptions.UnknownKvStateIdException":
		return []error{ErrUnknownKvStateID, ErrBadRequest}
	case "org.apache.flink.queryablestate.exceptions.UnknownKvStateKeyGroupLocationException":
		return []error{ErrUnknownKvStateKeyGroupLocation, ErrBadRequest}
	case "org.apache.flink.queryablestate.exceptions.UnknownLocationException":
		return []error{ErrUnknownLocation}
	case "org.apache.flink.queryablestate.network.BadRequestException":
		return []error{ErrBadRequest}
	}
	return nil
}

// TestReadThrowableGolden: every failure payload of the golden vectors
// (empty and real JVM stacks, REQUEST_FAILURE, SERVER_FAILURE, live
// exchanges) reads as the vector's class and message, without a cause (Flink
// leaves it unset), and matches exactly its sentinels.
func TestReadThrowableGolden(t *testing.T) {
	all := []error{ErrUnknownKeyOrNamespace, ErrUnknownKvStateID, ErrUnknownKvStateKeyGroupLocation, ErrUnknownLocation, ErrBadRequest}
	kinds := map[string]int{}
	for _, g := range goldenFailures(t) {
		kinds[strings.SplitN(g.name, "/", 2)[0]+"/"+g.stack]++
		t.Run(g.name, func(t *testing.T) {
			e, err := readThrowable(g.payload)
			if err != nil {
				t.Fatal(err)
			}
			if e.Class != g.class || e.Message != g.message || e.Cause != nil {
				t.Fatalf("got %q %q cause %v\nwant %q %q", e.Class, e.Message, e.Cause, g.class, g.message)
			}
			want := sentinelsFor(g.class)
			for _, s := range all {
				match := false
				for _, w := range want {
					match = match || w == s
				}
				if errors.Is(e, s) != match {
					t.Errorf("errors.Is(e, %v) = %v", s, !match)
				}
			}
		})
	}
	for _, k := range []string{"request_failure_frame/empty", "request_failure_frame/jvm", "server_failure_frame/empty", "server_failure_frame/jvm", "exchange/jvm"} {
		if kinds[k] == 0 {
			t.Errorf("no %s vector", k)
		}
	}
}

// TestReadThrowableFiles: each vectors/throwables/*.bin reads as the chain
// Java's ObjectInputStream read from it.
func TestReadThrowableFiles(t *testing.T) {
	allThrowableFiles(t)
	for _, f := range throwableFiles {
		t.Run(f.file, func(t *testing.T) {
			e, err := readThrowable(readThrowableFile(t, f.file))
			if err != nil {
				t.Fatal(err)
			}
			if got := chainOf(e); !sameChain(got, f.chain) {
				t.Fatalf("read %+v\nwant %+v", got, f.chain)
			}
		})
	}
}

// TestReadThrowableTruncated: every strict prefix of every real payload is an
// error wrapping ErrJavaStream (the last byte, TC_ENDBLOCKDATA of
// Throwable.writeObject, is always needed).
func TestReadThrowableTruncated(t *testing.T) {
	var payloads [][]byte
	for _, g := range goldenFailures(t) {
		payloads = append(payloads, g.payload)
	}
	for _, f := range throwableFiles {
		payloads = append(payloads, readThrowableFile(t, f.file))
	}
	for _, p := range payloads {
		for i := range len(p) {
			e, err := readThrowable(p[:i])
			if err == nil || e != nil || !errors.Is(err, ErrJavaStream) {
				t.Fatalf("prefix %d of %d: %v, %v", i, len(p), e, err)
			}
		}
	}
}

// jb builds hand-made serialization streams.
type jb struct{ b []byte }

func newJB() *jb                { return &jb{b: []byte{0xac, 0xed, 0x00, 0x05}} }
func (j *jb) raw(b ...byte) *jb { j.b = append(j.b, b...); return j }
func (j *jb) u16(v int) *jb     { j.b = binary.BigEndian.AppendUint16(j.b, uint16(v)); return j }
func (j *jb) u32(v uint32) *jb  { j.b = binary.BigEndian.AppendUint32(j.b, v); return j }
func (j *jb) u64(v uint64) *jb  { j.b = binary.BigEndian.AppendUint64(j.b, v); return j }
func (j *jb) utf(s string) *jb  { return j.u16(len(s)).raw([]byte(s)...) }
func (j *jb) str(s string) *jb  { return j.raw(tcString).utf(s) }
func (j *jb) ref(h int) *jb     { return j.raw(tcReference).u32(uint32(baseHandle + h)) }
func (j *jb) times(n int, f func()) *jb {
	for range n {
		f()
	}
	return j
}

// desc writes TC_CLASSDESC with fields "code name [type]" and an empty
// annotation; the caller writes the superclass descriptor next. It takes
// one handle plus one per type string.
func (j *jb) desc(name string, flags byte, fields ...string) *jb {
	j.raw(tcClassDesc).utf(name).u64(42).raw(flags).u16(len(fields))
	for _, f := range fields {
		p := strings.Fields(f)
		j.raw(p[0][0]).utf(p[1])
		if len(p) == 3 {
			j.str(p[2])
		}
	}
	return j.raw(tcEndBlockData)
}

// throwableDesc writes java.lang.Throwable's descriptor (5 handles) and its
// null superclass.
func (j *jb) throwableDesc() *jb {
	return j.desc("java.lang.Throwable", scSerializable|scWriteMethod, "L cause Ljava/lang/Throwable;",
		"L detailMessage Ljava/lang/String;", "[ stackTrace [Ljava/lang/StackTraceElement;",
		"L suppressedExceptions Ljava/util/List;").raw(tcNull)
}

// runtimeDesc writes RuntimeException's descriptor chain (7 handles).
func (j *jb) runtimeDesc() *jb {
	return j.desc("java.lang.RuntimeException", scSerializable).desc("java.lang.Exception", scSerializable).throwableDesc()
}

// TestReadThrowableGeneric reads hand-made streams using what real streams
// may hold around a Throwable: resets, subclasses with primitive and object
// fields, writeObject data with short and long block data, enums, classes,
// proxies, externalizable objects, primitive and object arrays, long strings.
func TestReadThrowableGeneric(t *testing.T) {
	j := newJB().raw(tcReset, tcReset).raw(tcObject).
		desc("com.example.CustomException", scSerializable|scWriteMethod,
			"B b", "C c", "D d", "F f", "I i", "J j", "S s", "Z z",
									"L e Ljava/util/concurrent/TimeUnit;", "[ a [I", "[ o [Ljava/lang/Object;"). // handles 0..3
		desc("java.lang.RuntimeException", scSerializable). // 4
		desc("java.lang.Exception", scSerializable).        // 5
		throwableDesc()                                     // 6..10, object 11
	// Throwable's data: no cause, a long-string message, no stack, a suppressed list.
	msg := strings.Repeat("long é ", 10000)
	j.raw(tcNull).raw(tcLongString).u64(uint64(len(msg))).raw([]byte(msg)...).raw(tcNull)
	j.raw(tcObject).desc("java.util.ArrayList", scSerializable|scWriteMethod, "I size").raw(tcNull).
		u32(0).raw(tcBlockData, 4).u32(0).raw(tcEndBlockData)
	j.raw(tcEndBlockData)
	// CustomException's data: primitives (1+2+8+4+4+8+2+1 bytes), then objects.
	j.raw(make([]byte, 30)...)
	j.raw(tcEnum).desc("java.util.concurrent.TimeUnit", scSerializable|scEnum).
		desc("java.lang.Enum", scSerializable|scEnum).raw(tcNull).str("SECONDS")
	j.raw(tcArray).desc("[I", scSerializable).raw(tcNull).u32(3).raw(make([]byte, 12)...)
	j.raw(tcArray).desc("[Ljava.lang.Object;", scSerializable).raw(tcNull).u32(6)
	j.raw(tcClass).ref(4) // RuntimeException.class
	j.raw(tcObject).raw(tcProxyClassDesc).u32(1).utf("java.lang.Runnable").raw(tcEndBlockData).
		desc("java.lang.reflect.Proxy", scSerializable, "L h Ljava/lang/reflect/InvocationHandler;").raw(tcNull).
		raw(tcNull) // Proxy.h
	j.raw(tcObject).desc("com.example.Ext", scExternalizable|scBlockData).raw(tcNull).
		raw(tcBlockData, 4).u32(7).str("inside").raw(tcEndBlockData)
	j.raw(tcArray).desc("[[J", scSerializable).raw(tcNull).u32(1).
		raw(tcArray).desc("[J", scSerializable).raw(tcNull).u32(2).raw(make([]byte, 16)...)
	j.raw(tcArray).desc("[Ljava.lang.String;", scSerializable).raw(tcNull).u32(2).str("a").raw(tcNull)
	j.raw(tcNull)
	// CustomException.writeObject's data: block data, long block data, a value.
	j.raw(tcBlockData, 3, 'a', 'b', 'c').raw(tcBlockDataLong).u32(300).raw(make([]byte, 300)...)
	j.str("extra").raw(tcEndBlockData)
	e, err := readThrowable(j.b)
	if err != nil {
		t.Fatal(err)
	}
	want := []JavaException{{Class: "com.example.CustomException", Message: msg}}
	if !sameChain(chainOf(e), want) {
		t.Fatalf("read %q", chainOf(e)[0].Class)
	}
	// Trailing bytes after the object are ignored, as Java ignores them.
	if e, err := readThrowable(append(j.b, 0xff, 0xff)); err != nil || e.Class != "com.example.CustomException" {
		t.Fatalf("with trailing bytes: %v", err)
	}
}

// TestReadThrowableCauses: causes inline, as references, as a loop, and
// modified UTF-8 messages.
func TestReadThrowableCauses(t *testing.T) {
	// outer (handle 7) -> inner (8) -> outer: the loop is cut.
	j := newJB().raw(tcObject).runtimeDesc().
		raw(tcObject).ref(0).ref(7).
		raw(tcString).u16(6).raw('i', 0xc0, 0x80, 0xc3, 0xa9, 'n').raw(tcNull, tcNull, tcEndBlockData).
		raw(tcString).u16(12).raw(0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80, 0xed, 0xa0, 0xbd, 'x', 0xed, 0xb8).
		raw(tcNull, tcNull, tcEndBlockData)
	// 12 bytes: a surrogate pair, a lone high surrogate, 'x', then a
	// truncated 3-byte form: malformed.
	if _, err := readThrowable(j.b); !errors.Is(err, ErrJavaStream) || !strings.Contains(err.Error(), "UTF-8") {
		t.Fatalf("malformed UTF-8: %v", err)
	}
	j = newJB().raw(tcObject).runtimeDesc().
		raw(tcObject).ref(0).ref(7).
		raw(tcString).u16(6).raw('i', 0xc0, 0x80, 0xc3, 0xa9, 'n').raw(tcNull, tcNull, tcEndBlockData).
		raw(tcString).u16(13).raw(0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80, 0xed, 0xa0, 0xbd, 'x', 0xed, 0xb8, 0x80).
		raw(tcNull, tcNull, tcEndBlockData)
	e, err := readThrowable(j.b)
	if err != nil {
		t.Fatal(err)
	}
	// Java's chars: D83D DE00 D83D 'x' DE00: a pair, then two lone surrogates.
	want := []JavaException{{Class: nameRuntime, Message: "😀\uFFFDx\uFFFD"}, {Class: nameRuntime, Message: "i\x00én"}}
	if !sameChain(chainOf(e), want) {
		t.Fatalf("read %q", chainOf(e))
	}
	// A cause that refers to an earlier, finished Throwable (inside the
	// class annotation of the outer class).
	j = newJB().raw(tcObject, tcClassDesc).utf("com.example.Outer").u64(1).raw(scSerializable).u16(0) // handle 0
	// Outer's class annotation holds a finished RuntimeException: descriptors 1..7, object 8, message 9.
	j.raw(tcObject).runtimeDesc().raw(tcNull).str("earlier").raw(tcNull, tcNull, tcEndBlockData)
	j.raw(tcEndBlockData).ref(1) // end of annotation; Outer's superclass is RuntimeException
	// Outer's data (Throwable's fields): the cause refers to object 8.
	j.ref(8).str("outer").raw(tcNull, tcNull, tcEndBlockData)
	e, err = readThrowable(j.b)
	if err != nil {
		t.Fatal(err)
	}
	want = []JavaException{{Class: "com.example.Outer", Message: "outer"}, {Class: nameRuntime, Message: "earlier"}}
	if !sameChain(chainOf(e), want) {
		t.Fatalf("read %q", chainOf(e))
	}
}

// TestReadThrowableHostile: malformed and hostile streams return errors
// wrapping ErrJavaStream, quickly.
func TestReadThrowableHostile(t *testing.T) {
	deepArrays := newJB().raw(tcArray).desc("[Ljava.lang.Object;", scSerializable).raw(tcNull).u32(1)
	deepArrays.times(20000, func() { deepArrays.raw(tcArray).ref(0).u32(1) })
	deepClasses := newJB().raw(tcObject)
	for i := range 100 {
		deepClasses.desc("C"+strings.Repeat("x", i), scSerializable)
	}
	deepClasses.raw(tcNull)
	// 60-deep hierarchy, then 200,000 objects of it: the work bound stops it.
	wideObjects := newJB().raw(tcArray).desc("[Ljava.lang.Object;", scSerializable).raw(tcNull).u32(200001)
	wideObjects.raw(tcObject)
	for i := range 60 {
		wideObjects.desc("D"+strings.Repeat("y", i), scSerializable)
	}
	wideObjects.raw(tcNull)
	wideObjects.times(200000, func() { wideObjects.raw(tcObject).ref(2) }) // D: handle 2
	manyStrings := newJB().raw(tcArray).desc("[Ljava.lang.Object;", scSerializable).raw(tcNull).u32(70000)
	manyStrings.times(70000, func() { manyStrings.raw(tcString).u16(0) })
	manyNulls := newJB().raw(tcArray).desc("[Ljava.lang.Object;", scSerializable).raw(tcNull).u32(300000)
	manyNulls.raw(make([]byte, 300000)...) // TC_NULL is 0x70; zeros fail first if the bound does not
	for i := range 300000 {
		manyNulls.b[len(manyNulls.b)-1-i] = tcNull
	}
	longChain := newJB().raw(tcObject).runtimeDesc()
	longChain.times(MaxCauseChain, func() { longChain.raw(tcObject).ref(0) })
	longChain.raw(tcNull)
	longChain.times(MaxCauseChain+1, func() { longChain.raw(tcNull, tcNull, tcNull, tcEndBlockData) })
	throwablePrefix := func() *jb { return newJB().raw(tcObject).runtimeDesc() }

	cases := []struct {
		name string
		b    []byte
		want string // part of the error text
	}{
		{"empty", nil, "header"},
		{"short header", []byte{0xac, 0xed, 0x00}, "header"},
		{"bad magic", []byte{0xac, 0xee, 0x00, 0x05, tcNull}, "header"},
		{"bad version", []byte{0xac, 0xed, 0x00, 0x04, tcNull}, "header"},
		{"header only", newJB().b, "truncated"},
		{"resets only", newJB().raw(tcReset, tcReset).b, "truncated"},
		{"null", newJB().raw(tcNull).b, "not a Throwable"},
		{"string", newJB().str("x").b, "not a Throwable"},
		{"plain object", newJB().raw(tcObject).desc("com.example.Foo", scSerializable).raw(tcNull).b, "not a Throwable"},
		{"int array", newJB().raw(tcArray).desc("[I", scSerializable).raw(tcNull).u32(0).b, "not a Throwable"},
		{"bogus handle", newJB().ref(0x1234).b, "unknown handle"},
		{"handle below base", newJB().raw(tcReference).u32(5).b, "unknown handle"},
		{"TC_OBJECT without descriptor", newJB().raw(tcObject, tcNull).b, "without a complete class descriptor"},
		{"descriptor refers to a string", newJB().raw(tcObject).desc("A", scSerializable, "L f LX;").ref(1).b, "non-descriptor"},
		{"superclass is itself", newJB().raw(tcObject).desc("A", scSerializable).ref(0).b, "still being read"},
		{"proxy superclass is itself", newJB().raw(tcObject, tcProxyClassDesc).u32(0).raw(tcEndBlockData).ref(0).b, "still being read"},
		{"object of a descriptor being read", newJB().raw(tcObject).raw(tcClassDesc).utf("A").u64(0).raw(scSerializable).u16(0).
			raw(tcObject).ref(0).b, "without a complete class descriptor"},
		{"huge string length", newJB().raw(tcString).u16(0xffff).raw('a').b, "truncated"},
		{"huge long string", newJB().raw(tcLongString).u64(1 << 62).raw('a').b, "long string"},
		{"long string 2^64-1", newJB().raw(tcLongString).u64(^uint64(0)).b, "long string"},
		{"huge int array", newJB().raw(tcArray).desc("[I", scSerializable).raw(tcNull).u32(0x7fffffff).b, "truncated"},
		{"huge long array", newJB().raw(tcArray).desc("[J", scSerializable).raw(tcNull).u32(0x7fffffff).raw(make([]byte, 64)...).b, "truncated"},
		{"huge object array", newJB().raw(tcArray).desc("[Ljava.lang.Object;", scSerializable).raw(tcNull).u32(0x7fffffff).b, "truncated"},
		{"negative array length", newJB().raw(tcArray).desc("[I", scSerializable).raw(tcNull).u32(0xffffffff).b, "array length"},
		{"array of a non-array class", newJB().raw(tcArray).desc("Foo", scSerializable).raw(tcNull).u32(0).b, "non-array"},
		{"array of an unknown element type", newJB().raw(tcArray).desc("[Q", scSerializable).raw(tcNull).u32(1).raw(0).b, "array class"},
		{"65535 fields declared", newJB().raw(tcObject, tcClassDesc).utf("A").u64(0).raw(scSerializable).u16(0xffff).raw('I').utf("x").b, "truncated"},
		{"bad field code", newJB().raw(tcObject).desc("A", scSerializable, "X f").b, "field type code"},
		{"primitive after object field", newJB().raw(tcObject).desc("A", scSerializable, "L o LX;", "I i").b, "primitive field after"},
		{"field type not a string", newJB().raw(tcObject, tcClassDesc).utf("A").u64(0).raw(scSerializable).u16(1).raw('L').utf("f").raw(tcArray).b, "field type string"},
		{"field type refers to a descriptor", newJB().raw(tcObject, tcClassDesc).utf("A").u64(0).raw(scSerializable).u16(1).raw('L').utf("f").ref(0).b, "non-string"},
		{"serializable and externalizable", newJB().raw(tcObject).desc("A", scSerializable|scExternalizable).b, "both"},
		{"externalizable without block data", newJB().raw(tcObject).desc("A", scExternalizable).raw(tcNull).raw(1, 2, 3).b, "protocol 1"},
		{"negative long block data", newJB().raw(tcObject, tcClassDesc).utf("A").u64(0).raw(scSerializable).u16(0).raw(tcBlockDataLong).u32(0x80000000).b, "block data of"},
		{"long block data past the end", newJB().raw(tcObject, tcClassDesc).utf("A").u64(0).raw(scSerializable).u16(0).raw(tcBlockDataLong).u32(1000).b, "truncated"},
		{"block data as a value", newJB().raw(tcBlockData, 1, 0).b, "block data where"},
		{"end block data as a value", newJB().raw(tcEndBlockData).b, "TC_ENDBLOCKDATA"},
		{"reset inside an object", newJB().raw(tcArray).desc("[Ljava.lang.Object;", scSerializable).raw(tcNull).u32(1).raw(tcReset).b, "TC_RESET"},
		{"TC_EXCEPTION", newJB().raw(tcException).b, "TC_EXCEPTION"},
		{"unknown type code", newJB().raw(0x6f).b, "unknown type code"},
		{"class descriptor expected", newJB().raw(tcObject, tcString).utf("x").b, "class descriptor was expected"},
		{"TC_CLASS of null", newJB().raw(tcClass, tcNull).b, "TC_CLASS without"},
		{"enum name not a string", newJB().raw(tcEnum).desc("E", scSerializable|scEnum).raw(tcNull).raw(tcNull).b, "not a string"},
		{"proxy with negative interface count", newJB().raw(tcObject, tcProxyClassDesc).u32(0xffffffff).b, "interfaces"},
		{"proxy with 65535 interfaces", newJB().raw(tcObject, tcProxyClassDesc).u32(65535).b, "truncated"},
		{"malformed UTF-8 in a class name", newJB().raw(tcObject, tcClassDesc).u16(2).raw(0xc0, 0x41).b, "UTF-8"},
		{"malformed UTF-8: 0x80", newJB().raw(tcString).u16(1).raw(0x80).b, "UTF-8"},
		{"malformed UTF-8: 4-byte form", newJB().raw(tcString).u16(4).raw(0xf0, 0x9f, 0x98, 0x80).b, "UTF-8"},
		{"cause is a string", throwablePrefix().str("cause").b, "cause is not a Throwable"},
		{"detailMessage is a descriptor", throwablePrefix().raw(tcNull).ref(0).b, "detailMessage is not a string"},
		{"cause chain too long", longChain.b, "cause chain too long"},
		{"deep nesting", deepArrays.b, "nested deeper"},
		{"deep class hierarchy", deepClasses.b, "hierarchy deeper"},
		{"many objects of a deep class", wideObjects.b, "more than"},
		{"too many handles", manyStrings.b, "handles"},
		{"too many values", manyNulls.b, "values"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			e, err := readThrowable(c.b)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
			if err == nil || e != nil || !errors.Is(err, ErrJavaStream) {
				t.Fatalf("got %v, %v", e, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
			if !strings.Contains(err.Error(), "offset") && !strings.Contains(err.Error(), "cause chain") {
				t.Errorf("error %q has no offset", err)
			}
		})
	}
	if !errors.Is(mustErr(readThrowable(longChain.b)), ErrCauseChainTooLong) {
		t.Error("a long chain is not ErrCauseChainTooLong")
	}
	// A chain of exactly MaxCauseChain reads.
	ok := newJB().raw(tcObject).runtimeDesc()
	ok.times(MaxCauseChain-1, func() { ok.raw(tcObject).ref(0) })
	ok.raw(tcNull)
	ok.times(MaxCauseChain, func() { ok.raw(tcNull, tcNull, tcNull, tcEndBlockData) })
	if e, err := readThrowable(ok.b); err != nil || len(chainOf(e)) != MaxCauseChain {
		t.Fatalf("chain of %d: %v", MaxCauseChain, err)
	}
}

func mustErr(_ *JavaException, err error) error { return err }

// TestReadThrowableDoesNotRetain: the result does not alias the payload.
func TestReadThrowableDoesNotRetain(t *testing.T) {
	p := bytes.Clone(goldenFailures(t)[0].payload)
	e, err := readThrowable(p)
	if err != nil {
		t.Fatal(err)
	}
	before := e.Class + "|" + e.Message
	for i := range p {
		p[i] = 'X'
	}
	if e.Class+"|"+e.Message != before {
		t.Fatal("result changed with the payload")
	}
}
