package codec

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Server names Flink puts in front of its failure messages (PROTOCOL.md §4.2).
const (
	// ServerName is the state server's name ("Queryable State Server").
	ServerName = "Queryable State Server"
	// ProxyName is the client proxy's name ("Queryable State Proxy Server").
	ProxyName = "Queryable State Proxy Server"
)

// MaxCauseChain is the longest cause chain AppendThrowable writes and
// DecodeFailure returns (the exception itself included).
const MaxCauseChain = 64

// ExceptionClass is a Java class we may send (PROTOCOL.md §4.1 table): a Java
// client has each on its classpath with the serialVersionUID we write.
type ExceptionClass int

// The classes we may send.
const (
	ClassRuntimeException                        ExceptionClass = iota + 1 // java.lang.RuntimeException
	ClassIllegalStateException                                             // java.lang.IllegalStateException
	ClassIllegalArgumentException                                          // java.lang.IllegalArgumentException
	ClassBadRequestException                                               // org.apache.flink.queryablestate.network.BadRequestException
	ClassUnknownKvStateIDException                                         // ...queryablestate.exceptions.UnknownKvStateIdException
	ClassUnknownKeyOrNamespaceException                                    // ...queryablestate.exceptions.UnknownKeyOrNamespaceException
	ClassUnknownKvStateKeyGroupLocationException                           // ...queryablestate.exceptions.UnknownKvStateKeyGroupLocationException
	ClassUnknownLocationException                                          // ...queryablestate.exceptions.UnknownLocationException (extends FlinkException)
)

// Java class names of the classes we send and of their superclasses.
const (
	nameThrowable         = "java.lang.Throwable"
	nameException         = "java.lang.Exception"
	nameRuntime           = "java.lang.RuntimeException"
	nameIllegalState      = "java.lang.IllegalStateException"
	nameIllegalArgument   = "java.lang.IllegalArgumentException"
	nameFlinkException    = "org.apache.flink.util.FlinkException"
	nameBadRequest        = "org.apache.flink.queryablestate.network.BadRequestException"
	nameUnknownKvStateID  = "org.apache.flink.queryablestate.exceptions.UnknownKvStateIdException"
	nameUnknownKeyOrNS    = "org.apache.flink.queryablestate.exceptions.UnknownKeyOrNamespaceException"
	nameUnknownKeyGroup   = "org.apache.flink.queryablestate.exceptions.UnknownKvStateKeyGroupLocationException"
	nameUnknownLocation   = "org.apache.flink.queryablestate.exceptions.UnknownLocationException"
	nameStackTraceArray   = "[Ljava.lang.StackTraceElement;"
	nameEmptyList         = "java.util.Collections$EmptyList"
	unknownLocationFormat = "Could not retrieve location of state=%s of job=%s. Potential reasons are: i) the state is not ready, or ii) the job does not exist."
)

// Name returns the Java class name (fully qualified).
func (c ExceptionClass) Name() string {
	if c < ClassRuntimeException || c > ClassUnknownLocationException {
		return ""
	}
	return classes[exceptionClassID[c]].name
}

// String returns the Java class name, or ExceptionClass(n) for an invalid value.
func (c ExceptionClass) String() string {
	if n := c.Name(); n != "" {
		return n
	}
	return "ExceptionClass(" + strconv.Itoa(int(c)) + ")"
}

// ExceptionClassOf returns the ExceptionClass whose Java name is name, or
// false when name is not a class we may send.
func ExceptionClassOf(name string) (ExceptionClass, bool) {
	id := classIDOf(name)
	if id < 0 {
		return 0, false
	}
	for c := ClassRuntimeException; c <= ClassUnknownLocationException; c++ {
		if exceptionClassID[c] == id {
			return c, true
		}
	}
	return 0, false
}

// JavaException is a Java Throwable read from or written to the wire. It
// implements error; errors.Is matches it against ErrUnknownKeyOrNamespace,
// ErrUnknownKvStateID, ErrUnknownKvStateKeyGroupLocation, ErrUnknownLocation
// and ErrBadRequest, and walks its causes.
type JavaException struct {
	Class   string         // Java class name, e.g. "java.lang.RuntimeException"
	Message string         // detailMessage ("" when null; an empty Message is written as null)
	Cause   *JavaException // nil when none (or self-referencing)
}

// Error returns "class: message", followed by ": class: message" for each
// cause. Stack-frame lines that Flink embeds in messages ("\tat ...",
// "\t... n more") are left out and the remaining lines are joined with
// spaces; Message keeps the full text.
func (e *JavaException) Error() string {
	if e == nil {
		return "<nil>"
	}
	var b strings.Builder
	for i, x := 0, e; x != nil && i < MaxCauseChain; i, x = i+1, x.Cause {
		if i > 0 {
			b.WriteString(": ")
		}
		b.WriteString(x.Class)
		if x.Message != "" {
			b.WriteString(": ")
			writeCompact(&b, x.Message)
		}
		if x.Cause == x {
			break
		}
	}
	return b.String()
}

// writeCompact writes msg without its stack-frame lines, its lines trimmed
// and joined with one space.
func writeCompact(b *strings.Builder, msg string) {
	first := true
	for line := range strings.SplitSeq(msg, "\n") {
		if strings.HasPrefix(line, "\t") {
			t := strings.TrimSpace(line)
			if strings.HasPrefix(t, "at ") || strings.HasPrefix(t, "... ") {
				continue
			}
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if !first {
			b.WriteByte(' ')
		}
		b.WriteString(line)
		first = false
	}
}

// Unwrap returns the cause (nil when none), so errors.Is and errors.As walk
// the chain.
func (e *JavaException) Unwrap() error {
	if e == nil || e.Cause == nil || e.Cause == e {
		return nil
	}
	return e.Cause
}

// Is reports whether target is the sentinel for e's class:
// ErrUnknownKeyOrNamespace, ErrUnknownKvStateID,
// ErrUnknownKvStateKeyGroupLocation, ErrUnknownLocation, or ErrBadRequest
// (which matches BadRequestException and its three queryable-state
// subclasses). It looks at e only; errors.Is walks the causes.
func (e *JavaException) Is(target error) bool {
	if e == nil {
		return false
	}
	switch target {
	case ErrUnknownKeyOrNamespace:
		return e.Class == nameUnknownKeyOrNS
	case ErrUnknownKvStateID:
		return e.Class == nameUnknownKvStateID
	case ErrUnknownKvStateKeyGroupLocation:
		return e.Class == nameUnknownKeyGroup
	case ErrUnknownLocation:
		return e.Class == nameUnknownLocation
	case ErrBadRequest:
		switch e.Class {
		case nameBadRequest, nameUnknownKeyOrNS, nameUnknownKvStateID, nameUnknownKeyGroup:
			return true
		}
	}
	return false
}

// Sendable returns e when every class in its chain is one we may send, and
// otherwise a copy in which each other class is replaced by
// java.lang.RuntimeException whose message is "<class>: <message>" (as Java's
// Throwable.toString prints it). A chain longer than MaxCauseChain or one that
// loops is cut. Use it before AppendThrowable on exceptions read from another
// server.
func (e *JavaException) Sendable() *JavaException {
	if e == nil {
		return nil
	}
	ok := true
	n := 0 // exceptions in the chain up to a loop
	for x := e; x != nil && !inChain(e, x, n); x = x.Cause {
		if _, allowed := ExceptionClassOf(x.Class); !allowed || n == MaxCauseChain {
			ok = false
			break
		}
		n++
	}
	if ok {
		return e // a loop is fine: AppendThrowable writes it as a reference
	}
	out := make([]JavaException, 0, min(n+1, MaxCauseChain))
	for x := e; x != nil && len(out) < MaxCauseChain && !inChain(e, x, len(out)); x = x.Cause {
		c := JavaException{Class: x.Class, Message: x.Message}
		if _, allowed := ExceptionClassOf(x.Class); !allowed {
			c.Class = nameRuntime
			c.Message = x.Class
			if x.Message != "" {
				c.Message += ": " + x.Message
			}
		}
		out = append(out, c)
	}
	for i := 0; i+1 < len(out); i++ {
		out[i].Cause = &out[i+1]
	}
	return &out[0]
}

// inChain reports whether c is one of the first n exceptions of the chain
// that starts at e.
func inChain(e, c *JavaException, n int) bool {
	if c == nil {
		return false
	}
	for x := e; x != nil && n > 0; x, n = x.Cause, n-1 {
		if x == c {
			return true
		}
	}
	return false
}

// NewUnknownKeyOrNamespace is Flink's UnknownKeyOrNamespaceException, sent
// for a missing key: "<server> : No state for the specified key/namespace.".
// See UnknownKeyOrNamespacePayload for its cached payload.
func NewUnknownKeyOrNamespace(server string) *JavaException {
	return &JavaException{Class: nameUnknownKeyOrNS, Message: server + " : No state for the specified key/namespace."}
}

// NewUnknownKvStateID is Flink's UnknownKvStateIdException:
// "<server> : No registered state with ID <32 hex digits>.". id is the
// KvStateID in wire order, which is also the order of its hex form.
func NewUnknownKvStateID(server string, id [16]byte) *JavaException {
	return &JavaException{Class: nameUnknownKvStateID,
		Message: server + " : No registered state with ID " + hex.EncodeToString(id[:]) + "."}
}

// NewUnknownKvStateKeyGroupLocation is Flink's
// UnknownKvStateKeyGroupLocationException: "<server> : Unknown key-group location.".
func NewUnknownKvStateKeyGroupLocation(server string) *JavaException {
	return &JavaException{Class: nameUnknownKeyGroup, Message: server + " : Unknown key-group location."}
}

// NewUnknownLocation is Flink's UnknownLocationException (1.5+ text):
// "Could not retrieve location of state=<state> of job=<job hex>. Potential
// reasons are: i) the state is not ready, or ii) the job does not exist.".
func NewUnknownLocation(jobID [16]byte, state string) *JavaException {
	return &JavaException{Class: nameUnknownLocation,
		Message: fmt.Sprintf(unknownLocationFormat, state, hex.EncodeToString(jobID[:]))}
}

// NewBadRequest is Flink's BadRequestException(server, msg): "<server> : <msg>".
func NewBadRequest(server, msg string) *JavaException {
	return &JavaException{Class: nameBadRequest, Message: server + " : " + msg}
}

// NewRuntimeException is a java.lang.RuntimeException with a message and an
// optional cause.
func NewRuntimeException(msg string, cause *JavaException) *JavaException {
	return &JavaException{Class: nameRuntime, Message: msg, Cause: cause}
}

// NewFailedRequest is the RuntimeException Flink's AbstractServerHandler
// sends when a request fails with something other than a
// BadRequestException: "Failed request <id>.\n Caused by: " followed by the
// cause as Java prints a Throwable whose stack traces are empty
// ("<class>: <message>\n", then "Caused by: <class>: <message>\n" for each
// nested cause). Unlike Flink, it also carries cause as its Cause.
func NewFailedRequest(requestID int64, cause *JavaException) *JavaException {
	var b strings.Builder
	b.WriteString("Failed request ")
	b.WriteString(strconv.FormatInt(requestID, 10))
	b.WriteString(".\n Caused by: ")
	for i, x := 0, cause; x != nil && i < MaxCauseChain; i, x = i+1, x.Cause {
		if i > 0 {
			b.WriteString("Caused by: ")
		}
		b.WriteString(x.Class)
		if x.Message != "" {
			b.WriteString(": ")
			b.WriteString(x.Message)
		}
		b.WriteByte('\n')
		if x.Cause == x {
			break
		}
	}
	if cause == nil {
		b.WriteString("null\n")
	}
	return &JavaException{Class: nameRuntime, Message: b.String(), Cause: cause}
}

// NewIllegalArgument is a java.lang.IllegalArgumentException (what Flink
// sends in SERVER_FAILURE for a frame of the wrong type).
func NewIllegalArgument(msg string) *JavaException {
	return &JavaException{Class: nameIllegalArgument, Message: msg}
}

// NewIllegalState is a java.lang.IllegalStateException.
func NewIllegalState(msg string) *JavaException {
	return &JavaException{Class: nameIllegalState, Message: msg}
}

// Java Object Serialization constants (java.io.ObjectStreamConstants).
const (
	streamMagic   = 0xACED
	streamVersion = 5
	baseHandle    = 0x7E0000

	tcNull           = 0x70
	tcReference      = 0x71
	tcClassDesc      = 0x72
	tcObject         = 0x73
	tcString         = 0x74
	tcArray          = 0x75
	tcClass          = 0x76
	tcBlockData      = 0x77
	tcEndBlockData   = 0x78
	tcReset          = 0x79
	tcBlockDataLong  = 0x7A
	tcException      = 0x7B
	tcLongString     = 0x7C
	tcProxyClassDesc = 0x7D
	tcEnum           = 0x7E

	scWriteMethod    = 0x01
	scSerializable   = 0x02
	scExternalizable = 0x04
	scBlockData      = 0x08
	scEnum           = 0x10
)

// classID indexes classes.
type classID int8

const (
	cidThrowable classID = iota
	cidException
	cidRuntime
	cidIllegalState
	cidIllegalArgument
	cidFlinkException
	cidBadRequest
	cidUnknownKvStateID
	cidUnknownKeyOrNS
	cidUnknownKeyGroup
	cidUnknownLocation
	cidStackTraceArray
	cidEmptyList
	numClasses
)

// classInfo is a class the writer emits: its descriptor (TC_CLASSDESC up
// to and including the TC_ENDBLOCKDATA of its annotation; the superclass
// descriptor follows) and the number of handles the descriptor takes.
type classInfo struct {
	name    string
	super   classID // -1: none
	desc    string
	handles int32
}

// throwableFields is the field part of java.lang.Throwable's descriptor:
// four object fields sorted by name, their type strings (4 handles).
const throwableFields = "\x00\x04" +
	"L\x00\x05cause" + "t\x00\x15Ljava/lang/Throwable;" +
	"L\x00\x0ddetailMessage" + "t\x00\x12Ljava/lang/String;" +
	"[\x00\x0astackTrace" + "t\x00\x1e[Ljava/lang/StackTraceElement;" +
	"L\x00\x14suppressedExceptions" + "t\x00\x10Ljava/util/List;"

var classes = [numClasses]classInfo{
	cidThrowable:        {nameThrowable, -1, classDesc(nameThrowable, 0xd5c635273977b8cb, scSerializable|scWriteMethod, throwableFields), 5},
	cidException:        {nameException, cidThrowable, classDesc(nameException, 0xd0fd1f3e1a3b1cc4, scSerializable, "\x00\x00"), 1},
	cidRuntime:          {nameRuntime, cidException, classDesc(nameRuntime, 0x9e5f06470a3483e5, scSerializable, "\x00\x00"), 1},
	cidIllegalState:     {nameIllegalState, cidRuntime, classDesc(nameIllegalState, 0xe65755e69a46f248, scSerializable, "\x00\x00"), 1},
	cidIllegalArgument:  {nameIllegalArgument, cidRuntime, classDesc(nameIllegalArgument, 0xb58973d37d668fbc, scSerializable, "\x00\x00"), 1},
	cidFlinkException:   {nameFlinkException, cidException, classDesc(nameFlinkException, 0x06412b0cfb4599b4, scSerializable, "\x00\x00"), 1},
	cidBadRequest:       {nameBadRequest, cidException, classDesc(nameBadRequest, 0x2fffed4cac499c07, scSerializable, "\x00\x00"), 1},
	cidUnknownKvStateID: {nameUnknownKvStateID, cidBadRequest, classDesc(nameUnknownKvStateID, 1, scSerializable, "\x00\x00"), 1},
	cidUnknownKeyOrNS:   {nameUnknownKeyOrNS, cidBadRequest, classDesc(nameUnknownKeyOrNS, 1, scSerializable, "\x00\x00"), 1},
	cidUnknownKeyGroup:  {nameUnknownKeyGroup, cidBadRequest, classDesc(nameUnknownKeyGroup, 1, scSerializable, "\x00\x00"), 1},
	cidUnknownLocation:  {nameUnknownLocation, cidFlinkException, classDesc(nameUnknownLocation, 0x7e2ed84a631292a9, scSerializable, "\x00\x00"), 1},
	cidStackTraceArray:  {nameStackTraceArray, -1, classDesc(nameStackTraceArray, 0x02462a3c3cfd2239, scSerializable, "\x00\x00"), 1},
	cidEmptyList:        {nameEmptyList, -1, classDesc(nameEmptyList, 0x7ab817b43ca79ede, scSerializable, "\x00\x00"), 1},
}

// exceptionClassID maps ExceptionClass to classID.
var exceptionClassID = [...]classID{
	ClassRuntimeException:                        cidRuntime,
	ClassIllegalStateException:                   cidIllegalState,
	ClassIllegalArgumentException:                cidIllegalArgument,
	ClassBadRequestException:                     cidBadRequest,
	ClassUnknownKvStateIDException:               cidUnknownKvStateID,
	ClassUnknownKeyOrNamespaceException:          cidUnknownKeyOrNS,
	ClassUnknownKvStateKeyGroupLocationException: cidUnknownKeyGroup,
	ClassUnknownLocationException:                cidUnknownLocation,
}

// classDesc encodes a TC_CLASSDESC without its superclass descriptor; names
// are ASCII, so their modified UTF-8 is the bytes themselves.
func classDesc(name string, suid uint64, flags byte, fields string) string {
	b := []byte{tcClassDesc}
	b = binary.BigEndian.AppendUint16(b, uint16(len(name)))
	b = append(b, name...)
	b = binary.BigEndian.AppendUint64(b, suid)
	b = append(b, flags)
	b = append(b, fields...)
	b = append(b, tcEndBlockData)
	return string(b)
}

// classIDOf returns the classID of a sendable exception class, or -1.
func classIDOf(name string) classID {
	switch name {
	case nameRuntime:
		return cidRuntime
	case nameIllegalState:
		return cidIllegalState
	case nameIllegalArgument:
		return cidIllegalArgument
	case nameBadRequest:
		return cidBadRequest
	case nameUnknownKvStateID:
		return cidUnknownKvStateID
	case nameUnknownKeyOrNS:
		return cidUnknownKeyOrNS
	case nameUnknownKeyGroup:
		return cidUnknownKeyGroup
	case nameUnknownLocation:
		return cidUnknownLocation
	}
	return -1
}

// ThrowableLen returns the number of bytes AppendThrowable appends for e, or
// the error AppendThrowable would return.
func ThrowableLen(e *JavaException) (int, error) {
	var w throwableWriter
	w.counting = true
	if err := w.stream(e); err != nil {
		return 0, err
	}
	return w.n, nil
}

// AppendThrowable appends e as the JDK's ObjectOutputStream.writeObject
// writes a Throwable whose stack traces were set to empty arrays (what Flink
// sends, byte for byte): the cause chain nested (a missing cause is a
// reference to the object itself), an empty StackTraceElement[] and the
// shared Collections$EmptyList of suppressed exceptions. An empty Message is
// written as null. Every class in the chain must be one of the
// ExceptionClass names, else it returns an error wrapping ErrClassNotAllowed
// and dst unchanged; a chain longer than MaxCauseChain returns
// ErrCauseChainTooLong. A cause that points back into the chain is written
// as a reference to that object, as Java does.
//
// It grows dst once, to the exact size (ThrowableLen), and allocates nothing
// else.
func AppendThrowable(dst []byte, e *JavaException) ([]byte, error) {
	var w throwableWriter
	w.counting = true
	if err := w.stream(e); err != nil {
		return dst, err
	}
	n := w.n
	if cap(dst)-len(dst) < n {
		grown := make([]byte, len(dst), len(dst)+n)
		copy(grown, dst)
		dst = grown
	}
	// The same walk again, writing; the message lengths are kept.
	w.counting, w.buf, w.next, w.desc, w.empty, w.depth, w.msg = false, dst, 0, [numClasses]int32{}, 0, 0, 0
	_ = w.stream(e) // cannot fail: the first walk checked the same chain
	return w.buf, nil
}

// MustAppendThrowable is AppendThrowable for chains known to be sendable
// (built by this package's constructors): it panics on an error, which is a
// bug in the caller.
func MustAppendThrowable(dst []byte, e *JavaException) []byte {
	dst, err := AppendThrowable(dst, e)
	if err != nil {
		panic(err)
	}
	return dst
}

// cachedUnknownKeyOrNamespace holds the payloads for ServerName and ProxyName.
var cachedUnknownKeyOrNamespace = sync.OnceValue(func() [2][]byte {
	s := MustAppendThrowable(nil, NewUnknownKeyOrNamespace(ServerName))
	p := MustAppendThrowable(nil, NewUnknownKeyOrNamespace(ProxyName))
	return [2][]byte{s[:len(s):len(s)], p[:len(p):len(p)]}
})

// UnknownKeyOrNamespacePayload returns the payload of
// NewUnknownKeyOrNamespace(server), the failure a server sends for every
// missing key. For ServerName and ProxyName it is computed once and shared:
// the caller must not modify it (its capacity equals its length, so append
// copies). For other names it is computed on each call; keep the result.
func UnknownKeyOrNamespacePayload(server string) []byte {
	switch server {
	case ServerName:
		return cachedUnknownKeyOrNamespace()[0]
	case ProxyName:
		return cachedUnknownKeyOrNamespace()[1]
	}
	return MustAppendThrowable(nil, NewUnknownKeyOrNamespace(server))
}

// AppendUnknownKeyOrNamespace appends UnknownKeyOrNamespacePayload(server)
// to dst; for ServerName and ProxyName it is a copy of cached bytes.
func AppendUnknownKeyOrNamespace(dst []byte, server string) []byte {
	switch server {
	case ServerName:
		return append(dst, cachedUnknownKeyOrNamespace()[0]...)
	case ProxyName:
		return append(dst, cachedUnknownKeyOrNamespace()[1]...)
	}
	return MustAppendThrowable(dst, NewUnknownKeyOrNamespace(server))
}

// throwableWriter writes (or, counting, measures) one serialization stream.
// Handles are numbered from 0 (0x7E0000 on the wire).
type throwableWriter struct {
	buf      []byte
	n        int // bytes counted (counting mode)
	counting bool
	next     int32             // next handle
	desc     [numClasses]int32 // handle+1 of each class descriptor written, 0 if none
	empty    int32             // handle+1 of the EmptyList object, 0 if not written
	chain    [MaxCauseChain]*JavaException
	handle   [MaxCauseChain]int32 // object handle of chain[i]
	depth    int
	msgLen   [MaxCauseChain]int // modified UTF-8 length of each message, from the counting walk
	msg      int                // messages written so far
}

func (w *throwableWriter) byte1(b byte) {
	if w.counting {
		w.n++
		return
	}
	w.buf = append(w.buf, b)
}

func (w *throwableWriter) str(s string) {
	if w.counting {
		w.n += len(s)
		return
	}
	w.buf = append(w.buf, s...)
}

func (w *throwableWriter) u32(v uint32) {
	if w.counting {
		w.n += 4
		return
	}
	w.buf = binary.BigEndian.AppendUint32(w.buf, v)
}

func (w *throwableWriter) ref(h int32) {
	w.byte1(tcReference)
	w.u32(uint32(baseHandle + h))
}

func (w *throwableWriter) stream(e *JavaException) error {
	if e == nil {
		return fmt.Errorf("%w: nil exception", ErrClassNotAllowed)
	}
	if w.counting {
		w.n += 4
	} else {
		w.buf = append(w.buf, streamMagic>>8, streamMagic&0xff, 0, streamVersion)
	}
	return w.throwable(e)
}

func (w *throwableWriter) classDesc(id classID) {
	for id >= 0 {
		if h := w.desc[id]; h != 0 {
			w.ref(h - 1)
			return
		}
		c := &classes[id]
		w.desc[id] = w.next + 1
		w.next += c.handles
		w.str(c.desc)
		id = c.super
	}
	w.byte1(tcNull)
}

func (w *throwableWriter) throwable(e *JavaException) error {
	id := classIDOf(e.Class)
	if id < 0 {
		return fmt.Errorf("%w: %q", ErrClassNotAllowed, e.Class)
	}
	if w.depth == MaxCauseChain {
		return fmt.Errorf("%w: more than %d exceptions", ErrCauseChainTooLong, MaxCauseChain)
	}
	w.byte1(tcObject)
	w.classDesc(id)
	h := w.next
	w.next++
	w.chain[w.depth], w.handle[w.depth] = e, h
	w.depth++
	// Throwable's fields in descriptor order: cause, detailMessage,
	// stackTrace, suppressedExceptions.
	switch c := e.Cause; {
	case c == nil:
		w.ref(h)
	case w.earlier(c) >= 0:
		w.ref(w.handle[w.earlier(c)])
	default:
		if err := w.throwable(c); err != nil {
			return err
		}
	}
	if e.Message == "" {
		w.byte1(tcNull)
	} else {
		w.string(e.Message)
	}
	w.byte1(tcArray)
	w.classDesc(cidStackTraceArray)
	w.next++
	w.u32(0)
	if w.empty != 0 {
		w.ref(w.empty - 1)
	} else {
		w.byte1(tcObject)
		w.classDesc(cidEmptyList)
		w.empty = w.next + 1
		w.next++
	}
	w.byte1(tcEndBlockData) // end of Throwable.writeObject's data
	w.depth--
	return nil
}

// earlier returns the index of c in the chain being written, or -1.
func (w *throwableWriter) earlier(c *JavaException) int {
	for i := 0; i < w.depth; i++ {
		if w.chain[i] == c {
			return i
		}
	}
	return -1
}

// string writes a new TC_STRING or TC_LONGSTRING (one handle).
func (w *throwableWriter) string(s string) {
	w.next++
	if w.counting {
		w.msgLen[w.msg] = modUTF8Len(s)
	}
	n := w.msgLen[w.msg]
	w.msg++
	if w.counting {
		if n <= 0xFFFF {
			w.n += 3 + n
		} else {
			w.n += 9 + n
		}
		return
	}
	if n <= 0xFFFF {
		w.buf = append(w.buf, tcString, byte(n>>8), byte(n))
	} else {
		w.buf = append(w.buf, tcLongString)
		w.buf = binary.BigEndian.AppendUint64(w.buf, uint64(n))
	}
	if n == len(s) {
		w.buf = append(w.buf, s...) // no NUL, supplementary or invalid: the same bytes
		return
	}
	w.buf = appendModUTF8(w.buf, s)
}

// modUTF8Len returns the length of s in Java's modified UTF-8: NUL takes two
// bytes, a supplementary character two 3-byte surrogates, and each byte of
// invalid UTF-8 is written as U+FFFD (3 bytes). Every other character has
// the same bytes as in UTF-8.
func modUTF8Len(s string) int {
	extra := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == 0:
			extra++
		case c >= 0xF0: // in valid UTF-8, the lead byte of a supplementary character: 4 -> 6
			extra += 2
		}
	}
	if utf8.ValidString(s) {
		return len(s) + extra
	}
	n := len(s)
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c == 0 {
				n++
			}
			i++
			continue
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		if size == 4 || size == 1 { // supplementary: 4 -> 6; invalid byte: 1 -> 3
			n += 2
		}
		i += size
	}
	return n
}

// appendModUTF8 appends s in Java's modified UTF-8 (see modUTF8Len),
// copying the runs whose bytes are the same as in UTF-8.
func appendModUTF8(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		j := i
		for j < len(s) {
			if c := s[j]; c < utf8.RuneSelf {
				if c == 0 {
					break
				}
				j++
				continue
			}
			_, size := utf8.DecodeRuneInString(s[j:])
			if size == 4 || size == 1 {
				break
			}
			j += size
		}
		dst = append(dst, s[i:j]...)
		if j == len(s) {
			break
		}
		r, size := utf8.DecodeRuneInString(s[j:])
		switch {
		case s[j] == 0:
			dst = append(dst, 0xC0, 0x80)
		case size == 1: // invalid UTF-8
			dst = append3(dst, utf8.RuneError)
		default: // supplementary character: a surrogate pair
			r -= 0x10000
			dst = append3(dst, 0xD800+(r>>10))
			dst = append3(dst, 0xDC00+(r&0x3FF))
		}
		i = j + size
	}
	return dst
}

func append3(dst []byte, c rune) []byte {
	return append(dst, 0xE0|byte(c>>12), 0x80|byte((c>>6)&0x3F), 0x80|byte(c&0x3F))
}
