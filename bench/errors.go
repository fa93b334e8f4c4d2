package bench

import "errors"

// Errors returned by Run and Config.Validate. They are wrapped with context
// (%w); tell them apart with errors.Is.
var (
	// ErrConfig reports an invalid Config; Validate joins one per problem.
	ErrConfig = errors.New("bench: invalid config")
	// ErrDial reports that a connection could not be opened before the run started.
	ErrDial = errors.New("bench: dial failed")
	// ErrPreload reports that loading the RESP dataset (SET of every key) failed.
	ErrPreload = errors.New("bench: preload failed")
	// ErrServerCPU reports that the server's CPU time could not be read from /proc.
	ErrServerCPU = errors.New("bench: cannot read server CPU time")
	// ErrProtocol reports a response the harness cannot match to a request:
	// an unknown request id, an unexpected message type, a malformed frame.
	// The connection that received it is closed.
	ErrProtocol = errors.New("bench: protocol error")
	// ErrTimeout reports a connection that made no progress for Config.Timeout
	// while it had requests in flight.
	ErrTimeout = errors.New("bench: no response within timeout")
	// ErrAborted reports a connection closed because the run was cancelled or
	// its drain time ran out.
	ErrAborted = errors.New("bench: run aborted")
	// ErrServerFailure reports a SERVER_FAILURE frame; the connection is closed
	// because its in-flight requests can no longer be answered.
	ErrServerFailure = errors.New("bench: server failure")
)
