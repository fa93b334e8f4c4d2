package cluster

import (
	"crypto/sha256"

	"github.com/qstate/qstate/registry"
)

// sha256Prefix is the first 16 bytes of SHA-256 of s.
func sha256Prefix(s string) registry.KvStateID {
	sum := sha256.Sum256([]byte(s))
	var id registry.KvStateID
	copy(id[:], sum[:])
	return id
}
