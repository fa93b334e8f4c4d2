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
	// ErrFrameTooShort reports a frame length too small to hold its header.
	ErrFrameTooShort = errors.New("codec: frame too short for its header")
	// ErrTruncated reports a body shorter than its own length fields say.
	ErrTruncated = errors.New("codec: truncated body")
	// ErrUnexpectedType reports a frame of a valid type that the reader did not expect here
	// (a server receiving REQUEST_RESULT, a client receiving REQUEST).
	ErrUnexpectedType = errors.New("codec: unexpected message type")
)
