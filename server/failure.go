package server

import "github.com/qstate/qstate/codec"

// serverFailureFrame encodes exc (one of codec's failures: NewFrameFailure,
// NewUnexpectedType) as a whole SERVER_FAILURE frame.
func serverFailureFrame(exc *codec.JavaException) []byte {
	payload := codec.MustAppendThrowable(nil, exc)
	frame := make([]byte, 0, codec.FrameSize(codec.ServerFailure, len(payload)))
	return codec.AppendServerFailureFrame(frame, payload)
}
