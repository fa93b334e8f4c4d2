package state

import "errors"

// Errors of the serializers and the KvState look-up. Functions wrap these
// with context (%w); callers tell them apart with errors.Is.
var (
	// ErrTruncated reports input that ends inside a serialized value.
	ErrTruncated = errors.New("state: truncated serialized value")
	// ErrMalformed reports input that no Flink serializer would have written
	// and that Flink's reader rejects too (a negative length, for instance).
	ErrMalformed = errors.New("state: malformed serialized value")
	// ErrNull reports Flink's null marker where the Go type has no null: a
	// String whose length byte is 0x00 (Flink's StringValue null).
	ErrNull = errors.New("state: null value")
	// ErrBadKeyAndNamespace reports serialized key-and-namespace bytes that
	// do not parse with the state's key and namespace serializers (Flink's
	// "Unable to deserialize key and namespace..."): bad key or namespace
	// bytes, a magic byte other than 0x2A, or unconsumed bytes after the
	// namespace. The wrapped text says which; see BadKeyAndNamespaceMessage.
	ErrBadKeyAndNamespace = errors.New("state: unable to deserialize key and namespace")
)

// BadKeyAndNamespaceMessage is the text of the IOException that Flink's
// KvStateSerializer.deserializeKeyAndNamespace throws for bytes that do not
// parse; a server that wants to answer like Flink puts it in the failure it
// sends for an error wrapping ErrBadKeyAndNamespace.
const BadKeyAndNamespaceMessage = "Unable to deserialize key and namespace. This indicates a mismatch in the " +
	"key/namespace serializers used by the KvState instance and this access."
