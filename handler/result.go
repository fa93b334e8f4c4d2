package handler

import (
	"errors"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/internal/enumname"
)

// Result says how a request was answered (Stats.Results).
type Result int

// The kinds of answers. Every request answered is counted under exactly one.
const (
	// ResultOK: a value (REQUEST_RESULT).
	ResultOK Result = iota
	// ResultMissingKey: the state holds nothing under the key and
	// namespace (UnknownKeyOrNamespaceException).
	ResultMissingKey
	// ResultUnknownState: no state under the job and state name
	// (UnknownLocationException, proxy port) or the KvStateID
	// (UnknownKvStateIdException, state-server port).
	ResultUnknownState
	// ResultUnknownKeyGroup: nobody is known to own the key's key group, or
	// a remote node owns it and there is no Forwarder
	// (UnknownKvStateKeyGroupLocationException).
	ResultUnknownKeyGroup
	// ResultBadRequest: the request body did not decode.
	ResultBadRequest
	// ResultError: any other failure: the state failed (bad key bytes), a
	// forwarded request failed, a look-up panicked.
	ResultError
	// ResultOverload: refused because every pool worker was busy.
	ResultOverload
	// ResultShutdown: refused because the handler was closing.
	ResultShutdown

	// NumResults is the number of Result values (the length of Stats.Results).
	NumResults
)

// String returns the result's metric label: "ok", "missing_key",
// "unknown_state", "unknown_key_group", "bad_request", "error", "overload"
// or "shutdown".
func (r Result) String() string { return results.String(r) }

var results = enumname.Table[Result]{Type: "Result", Names: []string{
	ResultOK:              "ok",
	ResultMissingKey:      "missing_key",
	ResultUnknownState:    "unknown_state",
	ResultUnknownKeyGroup: "unknown_key_group",
	ResultBadRequest:      "bad_request",
	ResultError:           "error",
	ResultOverload:        "overload",
	ResultShutdown:        "shutdown",
}}

// resultOf classifies a failure relayed from another node by its Java
// class, the specific classes first: Flink's UnknownKeyOrNamespace and
// UnknownKvStateId exceptions extend BadRequestException.
func resultOf(err error) Result {
	switch {
	case errors.Is(err, codec.ErrUnknownKeyOrNamespace):
		return ResultMissingKey
	case errors.Is(err, codec.ErrUnknownKvStateID), errors.Is(err, codec.ErrUnknownLocation):
		return ResultUnknownState
	case errors.Is(err, codec.ErrUnknownKvStateKeyGroupLocation):
		return ResultUnknownKeyGroup
	case errors.Is(err, codec.ErrBadRequest):
		return ResultBadRequest
	}
	return ResultError
}

// recordKinds adds a batch's answers by Result to the counters and clears
// kinds: one atomic addition per kind present in the batch.
func (c *counters) recordKinds(kinds *[NumResults]int32) {
	for r, n := range kinds {
		if n != 0 {
			c.results[r].Add(int64(n))
		}
	}
	*kinds = [NumResults]int32{}
}
