package state

// KvState is a queryable state as the registry stores it and the request
// handler queries it, from many goroutines at once.
type KvState interface {
	// Get returns the serialized answer for keyAndNamespace (Flink's
	// serialized key, 0x2A, namespace): value bytes, list content or map
	// content. The returned slice is immutable and stays valid as long as
	// the caller holds it (copy-on-write: the state never mutates published
	// bytes); callers must not modify it. found is false when there is no
	// state for the key and namespace (also for an empty list or map). err
	// wraps ErrBadKeyAndNamespace when the bytes do not parse with the
	// state's key and namespace serializers (Flink's "Unable to deserialize
	// key and namespace..."). Get does not allocate unless it returns an
	// error or the bytes are a non-canonical form (see Skipper).
	Get(keyAndNamespace []byte) (value []byte, found bool, err error)
}

// Compile-time checks that the heap states are KvStates.
var (
	_ KvState = (*ValueState[int32, VoidNamespace, int64])(nil)
	_ KvState = (*ListState[int32, VoidNamespace, int64])(nil)
	_ KvState = (*MapState[int32, VoidNamespace, string, int64])(nil)
	_ KvState = (*ReducingState[int32, VoidNamespace, int64])(nil)
	_ KvState = (*AggregatingState[int32, VoidNamespace, int64, int64, int64])(nil)
)
