package registry

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// JobID is a Flink JobID (an AbstractID): 16 bytes, in the order of its
// 32-digit hex form, which is also their order on the wire (lowerPart then
// upperPart, each big-endian).
type JobID [16]byte

// KvStateID identifies one registered state (a random AbstractID in Flink),
// in the same byte order as JobID.
type KvStateID [16]byte

// ParseJobID parses the 32 hex digits Flink prints for a JobID (either case).
func ParseJobID(s string) (JobID, error) {
	var id JobID
	return id, parseID(id[:], s)
}

// String returns the 32 lowercase hex digits, as Flink prints a JobID.
func (id JobID) String() string { return hex.EncodeToString(id[:]) }

// NewKvStateID returns a KvStateID from crypto/rand, as Flink's random AbstractID.
func NewKvStateID() KvStateID {
	var id KvStateID
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails (it crashes the program instead)
	return id
}

// ParseKvStateID parses 32 hex digits (either case).
func ParseKvStateID(s string) (KvStateID, error) {
	var id KvStateID
	return id, parseID(id[:], s)
}

// String returns the 32 lowercase hex digits, as Flink prints a KvStateID.
func (id KvStateID) String() string { return hex.EncodeToString(id[:]) }

func parseID(dst []byte, s string) error {
	if len(s) != 32 {
		return fmt.Errorf("%w: %q has %d characters", ErrBadID, s, len(s))
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil {
		return fmt.Errorf("%w: %q: %v", ErrBadID, s, err)
	}
	return nil
}
