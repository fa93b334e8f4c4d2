package pebblestate

import "errors"

// Errors callers tell apart with errors.Is; each returned error wraps one
// with context.
var (
	// ErrDataDir reports a data directory that Open cannot use: files that
	// are not a Pebble database, a Pebble database that is not a qstate
	// state store, a store of another format version or max parallelism,
	// or a database Pebble finds corrupt.
	ErrDataDir = errors.New("pebblestate: unusable data directory")
	// ErrClosed reports a call on a closed DB.
	ErrClosed = errors.New("pebblestate: database closed")
	// ErrStateKind reports a state created under a name the store already
	// holds as another kind of state (a ValueState opened as a MapState).
	ErrStateKind = errors.New("pebblestate: state kind mismatch")
	// ErrConfig reports invalid Options.
	ErrConfig = errors.New("pebblestate: invalid options")
)
