package cluster

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/qstate/qstate/registry"
)

// idDomain starts every preimage of a derived KvStateID, so that the
// scheme can change (v2) without two versions agreeing by accident.
const idDomain = "qstate/cluster/kvstate-id/v1\x00"

// DeriveKvStateID is the KvStateID of the key groups kgr of state name of
// job (maxParallelism key groups) held by node, when the cluster
// description names none: the first 16 bytes of SHA-256 over
//
//	"qstate/cluster/kvstate-id/v1" 0x00
//	job (16 bytes)
//	len(name) (u32 big-endian) name (UTF-8)
//	maxParallelism, kgr.Start, kgr.End (u32 big-endian each)
//	len(node) (u32 big-endian) node
//
// Every node computes the same ID from the same description, so a proxy can
// address a peer's range without asking it. The node is part of the input:
// a range that moves to another node gets a new ID, as a new registration
// does in Flink, so a peer with the old view is told
// UnknownKvStateIdException and re-resolves instead of being answered by a
// node it did not mean.
func DeriveKvStateID(job registry.JobID, name string, maxParallelism int, kgr registry.KeyGroupRange, node string) registry.KvStateID {
	h := sha256.New()
	var b [4]byte
	u32 := func(v int) {
		binary.BigEndian.PutUint32(b[:], uint32(v))
		h.Write(b[:])
	}
	h.Write([]byte(idDomain))
	h.Write(job[:])
	u32(len(name))
	h.Write([]byte(name))
	u32(maxParallelism)
	u32(kgr.Start)
	u32(kgr.End)
	u32(len(node))
	h.Write([]byte(node))
	var id registry.KvStateID
	copy(id[:], h.Sum(nil))
	return id
}
