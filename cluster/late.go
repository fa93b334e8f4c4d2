package cluster

import (
	"context"
	"sync/atomic"

	"github.com/qstate/qstate/registry"
)

// LateDirectory is a Directory that answers through another one set later.
// A node's Forwarder needs its Directory before the node's ports listen,
// while the directory that names the node (an etcd membership that
// publishes the bound addresses, a description listing them) can be made
// only after: give the Forwarder a LateDirectory, then Set the real one.
// Until Set, Owner fails with ErrNoDirectory (a Forwarder treats it as
// transient). The zero value is ready to use; it is safe for concurrent
// use.
type LateDirectory struct {
	d atomic.Pointer[Directory]
}

// Set makes d the directory Owner asks (it may be called again to replace
// it).
func (l *LateDirectory) Set(d Directory) { l.d.Store(&d) }

// Owner asks the directory Set last, or fails with ErrNoDirectory.
func (l *LateDirectory) Owner(ctx context.Context, job registry.JobID, name string, keyHash int32) (registry.Owner, error) {
	d := l.d.Load()
	if d == nil {
		return registry.Owner{}, ErrNoDirectory
	}
	return (*d).Owner(ctx, job, name, keyHash)
}
