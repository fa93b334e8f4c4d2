package pebblestate

import (
	"io"

	"github.com/cockroachdb/pebble/v2"

	"github.com/qstate/qstate/state"
)

// listMergerName is recorded by Pebble in the store: opening a Pebble
// database made with another merger fails, which also tells a foreign
// database from ours.
const listMergerName = "qstate.list-append.v1"

// listMerger is Flink's RocksDB list merge (StringAppendOperator with ','):
// the operands of a list key are serialized element runs, and the value is
// them joined with state.ListSeparator, oldest first: Flink's list content.
var listMerger = &pebble.Merger{
	Name: listMergerName,
	Merge: func(_, value []byte) (pebble.ValueMerger, error) {
		return &listValue{b: append([]byte(nil), value...)}, nil
	},
}

// listValue accumulates a list's operands (the caller keeps ownership of
// each operand, so they are copied).
type listValue struct{ b []byte }

func (l *listValue) MergeNewer(v []byte) error {
	l.b = append(append(l.b, state.ListSeparator), v...)
	return nil
}

func (l *listValue) MergeOlder(v []byte) error {
	b := make([]byte, 0, len(v)+1+len(l.b))
	b = append(append(append(b, v...), state.ListSeparator), l.b...)
	l.b = b
	return nil
}

func (l *listValue) Finish(bool) ([]byte, io.Closer, error) { return l.b, nil, nil }
