package server

import (
	"strconv"

	"github.com/qstate/qstate/codec"
)

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

// serverFailureFrame encodes exc (one of codec's failures: NewFrameFailure,
// NewUnexpectedType) as a whole SERVER_FAILURE frame.
func serverFailureFrame(exc *codec.JavaException) []byte {
	payload := codec.MustAppendThrowable(nil, exc)
	frame := make([]byte, 0, codec.FrameSize(codec.ServerFailure, len(payload)))
	return codec.AppendServerFailureFrame(frame, payload)
}
