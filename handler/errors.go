package handler

import "errors"

// Errors of the handler's set-up. New wraps them with context (%w); callers
// tell them apart with errors.Is.
var (
	// ErrConfig reports an invalid Config; Validate wraps it once per problem.
	ErrConfig = errors.New("handler: invalid config")
)
