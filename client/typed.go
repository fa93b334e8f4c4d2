package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/qstate/qstate/bufpool"
	"github.com/qstate/qstate/state"
)

// keyBufSize is the buffer first taken for serialized key-and-namespace
// bytes; AppendKeyAndNamespace grows it for larger keys.
const keyBufSize = 64

// GetValue looks up a ValueState (or a ReducingState, or an
// AggregatingState's accumulator) through a proxy: the state named
// stateName of job, under key in the VoidNamespace, as Flink's
// QueryableStateClient.getKvState does. ks serializes the key and computes
// its Java hashCode; vs reads the value, which must use every byte of the
// content (Flink's "Unconsumed bytes in the deserialized value").
//
// Errors are those of GetKvState, and ErrDecode when the content does not
// decode with vs. vs must keep state.Serializer's contract that Read never
// retains its input: the content goes back to bufpool once decoded (so a
// look-up of a fixed-size value allocates nothing in steady state).
func GetValue[K, V any](ctx context.Context, c *Client, addr string, job [16]byte, stateName string, ks state.KeySerializer[K], key K, vs state.Serializer[V]) (V, error) {
	var zero V
	content, err := getTyped(ctx, c, addr, job, stateName, ks, key)
	if err != nil {
		return zero, err
	}
	defer bufpool.Put(content) // state serializers never retain their input
	v, err := readValue(vs, content)
	if err != nil {
		return zero, fmt.Errorf("%w: value state %q: %w", ErrDecode, stateName, err)
	}
	return v, nil
}

// GetList looks up a ListState as GetValue does and returns its elements,
// read with vs from Flink's list format (elements separated by one byte).
func GetList[K, V any](ctx context.Context, c *Client, addr string, job [16]byte, stateName string, ks state.KeySerializer[K], key K, vs state.Serializer[V]) ([]V, error) {
	content, err := getTyped(ctx, c, addr, job, stateName, ks, key)
	if err != nil {
		return nil, err
	}
	defer bufpool.Put(content)
	l, err := state.ReadList(vs, content)
	if err != nil {
		return nil, fmt.Errorf("%w: list state %q: %w", ErrDecode, stateName, err)
	}
	return l, nil
}

// GetMap looks up a MapState as GetValue does and returns its entries,
// read with mks and mvs from Flink's map format. A nil *MV is a null value.
func GetMap[K any, MK comparable, MV any](ctx context.Context, c *Client, addr string, job [16]byte, stateName string, ks state.KeySerializer[K], key K, mks state.Serializer[MK], mvs state.Serializer[MV]) (map[MK]*MV, error) {
	content, err := getTyped(ctx, c, addr, job, stateName, ks, key)
	if err != nil {
		return nil, err
	}
	defer bufpool.Put(content)
	m, err := state.ReadMap(mks, mvs, content)
	if err != nil {
		return nil, fmt.Errorf("%w: map state %q: %w", ErrDecode, stateName, err)
	}
	return m, nil
}

// getTyped serializes key with the VoidNamespace and runs GetKvState.
func getTyped[K any](ctx context.Context, c *Client, addr string, job [16]byte, stateName string, ks state.KeySerializer[K], key K) ([]byte, error) {
	kv := state.AppendKeyAndNamespace(bufpool.Get(keyBufSize), ks, key, state.Void, state.VoidNamespace{})
	content, err := c.GetKvState(ctx, addr, job, stateName, ks.HashCode(key), kv)
	bufpool.Put(kv) // GetKvState copied it before it returned
	return content, err
}

// errUnconsumed reports value content left over after the value (Flink's
// "Unconsumed bytes in the deserialized value").
var errUnconsumed = errors.New("unconsumed bytes in the deserialized value (value serializer mismatch)")

// readValue reads one value with vs that must take all of content.
func readValue[V any](vs state.Serializer[V], content []byte) (V, error) {
	v, rest, err := vs.Read(content)
	if err != nil {
		var zero V
		return zero, err
	}
	if len(rest) > 0 {
		var zero V
		return zero, fmt.Errorf("%w: %d of %d bytes", errUnconsumed, len(rest), len(content))
	}
	return v, nil
}
