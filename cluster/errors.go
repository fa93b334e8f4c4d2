package cluster

import (
	"errors"
	"strconv"
)

// Errors of the cluster layer. Functions wrap them with context (%w);
// callers tell them apart with errors.Is.
var (
	// ErrInvalid reports a cluster description that does not parse or
	// breaks a rule; each problem is a *FieldError that wraps it.
	ErrInvalid = errors.New("cluster: invalid cluster description")
	// ErrUnknownNode reports a node name the cluster description does not list.
	ErrUnknownNode = errors.New("cluster: unknown node")
	// ErrNoLocalState reports a range this node holds for which no local
	// state was supplied (Apply's LocalFunc returned nil or failed).
	ErrNoLocalState = errors.New("cluster: no local state for a range this node holds")
	// ErrUnknownState reports a (job, state name) the directory does not know.
	ErrUnknownState = errors.New("cluster: unknown state")
	// ErrNoOwner reports a key group that no node holds.
	ErrNoOwner = errors.New("cluster: no owner for key group")
	// ErrGaveUp reports a forwarded request that failed on every attempt
	// the Forwarder was allowed (see ForwardError).
	ErrGaveUp = errors.New("cluster: gave up forwarding")
	// ErrConfig reports an invalid ForwarderConfig; Validate wraps it once per problem.
	ErrConfig = errors.New("cluster: invalid forwarder config")
	// ErrClosed reports a Forward on a Forwarder after Close.
	ErrClosed = errors.New("cluster: forwarder closed")
	// ErrNoDirectory reports a look-up in a LateDirectory before Set.
	ErrNoDirectory = errors.New("cluster: no directory yet")
)

// FieldError is one problem of a cluster description. Field names the bad
// field as a path into the file ("nodes[1].state",
// "states[0].ranges[2].keyGroups"); errors.Is(err, ErrInvalid) holds.
type FieldError struct {
	Field   string // path of the field, e.g. "states[0].maxParallelism"; "" for the file as a whole
	Problem string // what is wrong with it
}

// Error returns "cluster: <field>: <problem>".
func (e *FieldError) Error() string {
	if e.Field == "" {
		return "cluster: " + e.Problem
	}
	return "cluster: " + e.Field + ": " + e.Problem
}

// Unwrap returns ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// field formats a path element with an index: field("ranges", 2) is "ranges[2]".
func field(name string, i int) string { return name + "[" + strconv.Itoa(i) + "]" }
