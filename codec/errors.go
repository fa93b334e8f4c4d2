package codec

import "errors"

// Frame and body errors. Decoders wrap these with context (%w), so callers
// tell them apart with errors.Is.
var (
	// ErrBadVersion reports a frame whose version field is not Version.
	ErrBadVersion = errors.New("codec: bad protocol version")
	// ErrUnknownMessageType reports a message type outside 0..3.
	ErrUnknownMessageType = errors.New("codec: unknown message type")
	// ErrNegativeLength reports a negative length field (frame, name, key or content).
	ErrNegativeLength = errors.New("codec: negative length")
	// ErrFrameTooLarge reports a frame length above the caller's limit.
	ErrFrameTooLarge = errors.New("codec: frame too large")
	// ErrFrameTooShort reports a frame length too small to hold its header
	// (and, for every type but SERVER_FAILURE, its request id).
	ErrFrameTooShort = errors.New("codec: frame too short for its header")
	// ErrTruncated reports a body shorter than its fixed fields or its own length fields say.
	ErrTruncated = errors.New("codec: truncated body")
	// ErrUnexpectedType reports a frame of a valid type that the reader did not expect here
	// (a server receiving REQUEST_RESULT, a client receiving REQUEST).
	ErrUnexpectedType = errors.New("codec: unexpected message type")
)

// Java serialization errors (throwable.go, jserial.go) and the sentinels a
// *JavaException matches with errors.Is (by its Java class; see JavaException.Is).
var (
	// ErrJavaStream reports a failure payload that is not a readable Java serialization stream of a Throwable.
	ErrJavaStream = errors.New("codec: bad java serialization stream")
	// ErrClassNotAllowed reports an exception class a Java client may be unable to load (not an ExceptionClass).
	ErrClassNotAllowed = errors.New("codec: exception class not allowed")
	// ErrCauseChainTooLong reports a cause chain longer than MaxCauseChain.
	ErrCauseChainTooLong = errors.New("codec: exception cause chain too long")
	// ErrUnknownKeyOrNamespace matches Flink's UnknownKeyOrNamespaceException (missing key).
	ErrUnknownKeyOrNamespace = errors.New("codec: unknown key or namespace")
	// ErrUnknownKvStateID matches Flink's UnknownKvStateIdException.
	ErrUnknownKvStateID = errors.New("codec: unknown KvStateID")
	// ErrUnknownKvStateKeyGroupLocation matches Flink's UnknownKvStateKeyGroupLocationException.
	ErrUnknownKvStateKeyGroupLocation = errors.New("codec: unknown key-group location")
	// ErrUnknownLocation matches Flink's UnknownLocationException (unknown job or state at the proxy).
	ErrUnknownLocation = errors.New("codec: unknown state location")
	// ErrBadRequest matches Flink's BadRequestException and its three queryable-state subclasses.
	ErrBadRequest = errors.New("codec: bad request")
)
