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

// Appender is a KvState whose answers are not held in memory (a state on
// disk, package pebblestate). AppendGet appends the answer for
// keyAndNamespace to dst, growing it as append does, and returns the
// extended slice, with found and err as Get's; the answer, out[len(dst):],
// is the caller's (a copy: a disk store's buffers are not lent out). A
// caller that reuses dst (the request handler keeps one per worker)
// allocates nothing per look-up in steady state. Get on such a state
// returns a fresh copy of the answer, allocating. Heap states are not
// Appenders: their Get lends immutable bytes, copied once into the reply.
type Appender interface {
	KvState
	AppendGet(dst, keyAndNamespace []byte) (out []byte, found bool, err error)
}

// Blocking is implemented by a KvState whose look-ups may wait, on a disk
// for instance; MayBlock reports whether they may. Such look-ups must not
// run on a network event loop: the request handler runs them on its
// worker pool only, whatever its dispatch mode, so that a slow disk shows
// as a busy pool (and overload answers) rather than as stalled
// connections. A KvState that does not implement it never blocks.
type Blocking interface {
	MayBlock() bool
}
