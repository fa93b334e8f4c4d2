package registry

import "errors"

// Registration and parsing errors. Functions wrap these with context (%w);
// callers tell them apart with errors.Is.
var (
	// ErrNameClash reports a registration whose key groups overlap those
	// already registered under the same job and state name (Flink's
	// "Registration name clash").
	ErrNameClash = errors.New("registry: registration name clash")
	// ErrMaxParallelismMismatch reports a registration whose max
	// parallelism (number of key groups) differs from the one the job and
	// state name were first registered with.
	ErrMaxParallelismMismatch = errors.New("registry: max parallelism differs from the registered one")
	// ErrBadMaxParallelism reports a max parallelism outside [1, MaxParallelismUpperBound].
	ErrBadMaxParallelism = errors.New("registry: max parallelism out of range")
	// ErrBadKeyGroupRange reports a key-group range that is empty or not
	// within [0, maxParallelism).
	ErrBadKeyGroupRange = errors.New("registry: key-group range out of bounds")
	// ErrUnknownKvStateID reports a KvStateID that is not registered.
	ErrUnknownKvStateID = errors.New("registry: unknown KvStateID")
	// ErrDuplicateKvStateID reports a registration under a caller-chosen
	// KvStateID (RegisterRemote, RegisterWithID) that is already registered.
	ErrDuplicateKvStateID = errors.New("registry: duplicate KvStateID")
	// ErrNilState reports a local registration without a state.
	ErrNilState = errors.New("registry: nil KvState")
	// ErrNoAddr reports a remote registration without an address.
	ErrNoAddr = errors.New("registry: remote registration without an address")
	// ErrBadID reports a JobID or KvStateID string that is not 32 hex digits.
	ErrBadID = errors.New("registry: bad ID (want 32 hex digits)")
)
