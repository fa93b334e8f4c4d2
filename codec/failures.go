package codec

import (
	"encoding/binary"
	"errors"
	"strconv"
	"time"
)

// The failures a node raises itself, each with the text a Flink node
// sends for it (PROTOCOL.md §4.2, §4.3, the golden vectors) or, where
// Flink has no counterpart (overload, shutdown, forwarding), in the same
// shape: a RuntimeException whose message starts with the server's name.
// Packages server, handler and cluster build their failures here only, so
// every text a Java client may see is in this file and throwable.go.
//
// Flink appends a cause's stack trace after each "Caused by: <class>:
// <message>"; we have none, so such a text ends with the line break Java
// prints after the message.
const (
	failedIncoming  = "Failed incoming message. Caused by: "
	pipelineFailure = "Exception in server pipeline. Caused by: "
	tooLongFrame    = "io.netty.handler.codec.TooLongFrameException"
)

// NewFrameFailure returns what Flink's server answers, in a SERVER_FAILURE
// frame, to a broken stream: b holds the offending frame's bytes as far as
// they are buffered and err is what DecodeFrame returned for them. It
// returns nil for ErrFrameTooLarge (over the receiver's own limit, which
// Flink does not have: close without a word).
func NewFrameFailure(b []byte, err error) *JavaException {
	u32 := func(off int) uint32 {
		if len(b) < off+4 {
			return 0
		}
		return binary.BigEndian.Uint32(b[off:])
	}
	switch {
	case errors.Is(err, ErrFrameTooLarge):
		return nil
	case errors.Is(err, ErrNegativeLength):
		// Netty reads the prefix unsigned and adds its own 4 bytes.
		adjusted := uint64(u32(0)) + LengthLen
		return NewRuntimeException(pipelineFailure+tooLongFrame+
			": Adjusted frame length exceeds 2147483647: "+strconv.FormatUint(adjusted, 10)+" - discarded\n", nil)
	case errors.Is(err, ErrBadVersion):
		cause := NewIllegalState("Version Mismatch:  Found " + strconv.Itoa(int(int32(u32(LengthLen)))) +
			", Expected: " + strconv.Itoa(int(Version)) + ".")
		return causedIncoming(cause)
	case errors.Is(err, ErrUnknownMessageType):
		cause := NewIllegalState("Illegal message type with index " +
			strconv.Itoa(int(int32(u32(LengthLen+4)))) + ".")
		return causedIncoming(cause)
	default: // ErrFrameTooShort and anything else about the length
		cause := NewIllegalArgument("Frame length " + strconv.Itoa(int(int32(u32(0)))) +
			" is too short for a request's header and id.")
		return causedIncoming(cause)
	}
}

// causedIncoming is Flink's "Failed incoming message. Caused by: <cause>".
func causedIncoming(cause *JavaException) *JavaException {
	return NewRuntimeException(failedIncoming+cause.Class+": "+cause.Message+"\n", cause)
}

// NewUnexpectedType is what Flink's server answers (in a SERVER_FAILURE
// frame, as is) to a well-formed frame that is not a REQUEST.
func NewUnexpectedType(t MessageType) *JavaException {
	return NewIllegalArgument("Unexpected message type " + t.String() + ". Expected REQUEST.")
}

// NewMalformedRequest is the failure for a request body that does not
// decode (err is the body decoder's). Flink answers it with SERVER_FAILURE,
// which makes its client drop the whole connection; this fails only the
// request: with Flink's text for a negative length ("Failed incoming
// message. Caused by: java.lang.IllegalArgumentException: Negative length
// for ..."), naming the state name when server is ProxyName and the body's
// name length is negative, else the key and namespace; and with a
// BadRequestException for a truncated body.
func NewMalformedRequest(server string, body []byte, err error) *JavaException {
	if !errors.Is(err, ErrNegativeLength) {
		return NewBadRequest(server, "Malformed request body: "+err.Error())
	}
	what := "key and namespace"
	if server == ProxyName && len(body) >= 20 && int32(binary.BigEndian.Uint32(body[16:])) < 0 {
		what = "state name"
	}
	return causedIncoming(NewIllegalArgument("Negative length for " + what + ". This indicates a serialization error."))
}

// NewProcessingError is the RuntimeException Flink's KvStateServerHandler
// raises when the state fails to answer request requestID: "Error while
// processing request with ID <id>. Caused by: <causeClass>: <causeMessage>"
// (Flink's text for bad key or namespace bytes has causeClass
// java.io.IOException; the cause is in the text only).
func NewProcessingError(requestID int64, causeClass, causeMessage string) *JavaException {
	return NewRuntimeException("Error while processing request with ID "+
		strconv.FormatInt(requestID, 10)+". Caused by: "+causeClass+": "+causeMessage+"\n", nil)
}

// NewOverloaded is the failure of a request refused because all workers
// of server were busy: "<server> : Server overloaded: all <workers> query
// workers are busy; request rejected, retry later.".
func NewOverloaded(server string, workers int) *JavaException {
	return NewRuntimeException(server+" : Server overloaded: all "+strconv.Itoa(workers)+
		" query workers are busy; request rejected, retry later.", nil)
}

// NewShuttingDown is the failure of a request refused because server is
// shutting down: "<server> : Server is shutting down; request rejected.".
func NewShuttingDown(server string) *JavaException {
	return NewRuntimeException(server+" : Server is shutting down; request rejected.", nil)
}

// NewInternalError is the failure of a request whose answer failed
// unexpectedly (a state or forwarder that panicked): "<server> : Internal
// error while <doing>.".
func NewInternalError(server, doing string) *JavaException {
	return NewRuntimeException(server+" : Internal error while "+doing+".", nil)
}

// NewForwardFailure is what a proxy sends for a request it could not
// forward to the node that owns its key group (Flink's proxy retries
// without limit and has no such text): "<ProxyName> : Could not forward
// the request to <target>: gave up after <attempts> in <elapsed>. Last
// failure: <last>", caused by the owner's exception when the last attempt
// got one.
func NewForwardFailure(target string, attempts int, elapsed time.Duration, last string, cause *JavaException) *JavaException {
	n := "1 attempt"
	if attempts != 1 {
		n = strconv.Itoa(attempts) + " attempts"
	}
	return NewRuntimeException(ProxyName+" : Could not forward the request to "+target+
		": gave up after "+n+" in "+elapsed.Round(time.Microsecond).String()+". Last failure: "+last, cause)
}
