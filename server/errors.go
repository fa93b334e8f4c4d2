package server

import "errors"

// Errors of the server's lifecycle and configuration. Serve, Shutdown and
// New wrap them with context (%w); callers tell them apart with errors.Is.
var (
	// ErrServerClosed is returned by Serve after Shutdown or Close, and by
	// Serve on a server that was already started or stopped.
	ErrServerClosed = errors.New("server: closed")
	// ErrConfig reports an invalid Config; Validate wraps it once per problem.
	ErrConfig = errors.New("server: invalid config")
	// ErrPortsInUse reports that no port of the configured range could be bound.
	ErrPortsInUse = errors.New("server: all ports in the range are occupied")
	// ErrEngineStopped reports that the network engine stopped on its own
	// (for example after an accept error such as EMFILE) while the server
	// was serving.
	ErrEngineStopped = errors.New("server: network engine stopped unexpectedly")
)
