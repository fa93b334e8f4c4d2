package server

import (
	"encoding/binary"
	"errors"
	"strconv"

	"github.com/qstate/qstate/codec"
)

// Texts of the SERVER_FAILURE frames, as Flink's server words them
// (PROTOCOL.md §4.3 and the golden exchange vectors). Flink appends the
// cause's stack trace after each "Caused by: <class>: <message>"; we have
// none, so the text ends with the line break Java prints after it.
const (
	failedIncoming   = "Failed incoming message. Caused by: "
	pipelineFailure  = "Exception in server pipeline. Caused by: "
	illegalStateName = "java.lang.IllegalStateException"
	illegalArgName   = "java.lang.IllegalArgumentException"
	tooLongFrameName = "io.netty.handler.codec.TooLongFrameException"
)

// streamFailure returns the exception a broken stream answers with (in a
// SERVER_FAILURE frame), or nil when the connection is closed without one.
// b holds the bytes of the offending frame as far as they are buffered;
// err is what codec.DecodeFrame returned for them.
func streamFailure(b []byte, err error) *codec.JavaException {
	u32 := func(off int) uint32 {
		if len(b) < off+4 {
			return 0
		}
		return binary.BigEndian.Uint32(b[off:])
	}
	switch {
	case errors.Is(err, codec.ErrFrameTooLarge):
		return nil // over our own limit: close without a word
	case errors.Is(err, codec.ErrNegativeLength):
		// Netty reads the prefix unsigned and adds its own 4 bytes.
		adjusted := uint64(u32(0)) + codec.LengthLen
		return codec.NewRuntimeException(pipelineFailure+tooLongFrameName+
			": Adjusted frame length exceeds 2147483647: "+strconv.FormatUint(adjusted, 10)+" - discarded\n", nil)
	case errors.Is(err, codec.ErrBadVersion):
		cause := codec.NewIllegalState("Version Mismatch:  Found " + strconv.Itoa(int(int32(u32(codec.LengthLen)))) +
			", Expected: " + strconv.Itoa(int(codec.Version)) + ".")
		return codec.NewRuntimeException(failedIncoming+illegalStateName+": "+cause.Message+"\n", cause)
	case errors.Is(err, codec.ErrUnknownMessageType):
		cause := codec.NewIllegalState("Illegal message type with index " +
			strconv.Itoa(int(int32(u32(codec.LengthLen+4)))) + ".")
		return codec.NewRuntimeException(failedIncoming+illegalStateName+": "+cause.Message+"\n", cause)
	default: // codec.ErrFrameTooShort and anything else about the length
		cause := codec.NewIllegalArgument("Frame length " + strconv.Itoa(int(int32(u32(0)))) +
			" is too short for a request's header and id.")
		return codec.NewRuntimeException(failedIncoming+illegalArgName+": "+cause.Message+"\n", cause)
	}
}

// wrongTypeFailure is what Flink answers to a well-formed frame that is not
// a REQUEST: an IllegalArgumentException, sent as is.
func wrongTypeFailure(t codec.MessageType) *codec.JavaException {
	return codec.NewIllegalArgument("Unexpected message type " + t.String() + ". Expected REQUEST.")
}

// ownFailures returns the payloads of the REQUEST_FAILUREs the server
// answers requests with by itself: pushback, for requests beyond what a
// connection may hold (retryable: the client sent faster than it is
// answered), and closing, for requests read while shutting down.
func ownFailures(cfg Config) (pushback, closing []byte) {
	pushback = codec.MustAppendThrowable(nil, codec.NewRuntimeException("qstate "+cfg.Name+
		" server: too many requests waiting on this connection (more than max-inbound "+
		strconv.Itoa(cfg.MaxInbound)+" bytes buffered, max-in-flight "+strconv.Itoa(cfg.MaxInFlight)+
		" with the handler); request rejected, retry later.", nil))
	closing = codec.MustAppendThrowable(nil, codec.NewRuntimeException("qstate "+cfg.Name+
		" server is shutting down; request rejected.", nil))
	return pushback, closing
}

// serverFailureFrame encodes exc as a whole SERVER_FAILURE frame.
func serverFailureFrame(exc *codec.JavaException) []byte {
	payload := codec.MustAppendThrowable(nil, exc)
	frame := make([]byte, 0, codec.FrameSize(codec.ServerFailure, len(payload)))
	return codec.AppendServerFailureFrame(frame, payload)
}
