package cluster

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qstate/qstate/registry"
)

// Directory tells where key groups live: the location oracle a Forwarder
// asks again when a location proved stale. Static and FileDirectory read a
// cluster description; a directory backed by a coordination service (etcd)
// can satisfy the same interface.
type Directory interface {
	// Owner returns the owner of the key group of keyHash (Java hashCode
	// of the key) in state name of job, computed with the state's own max
	// parallelism. Owner.Addr is the state-server address of the node that
	// holds it, never "" (a range of the asking node itself included).
	// Errors: ErrUnknownState, ErrNoOwner, or the directory's own failure
	// (which a Forwarder treats as transient). It may block until ctx ends.
	Owner(ctx context.Context, job registry.JobID, name string, keyHash int32) (registry.Owner, error)
}

// Static is a Directory over one Cluster that never changes. Its look-ups
// do not lock or allocate. Safe for concurrent use.
type Static struct {
	c   *Cluster
	reg registry.Registry // every range as a remote registration at its node's state address
}

// NewStatic returns a Directory answering from c, which it validates and
// must not be changed afterwards.
func NewStatic(c *Cluster) (*Static, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	d := &Static{c: c}
	addr := make(map[string]string, len(c.Nodes))
	for _, n := range c.Nodes {
		addr[n.Name] = n.StateAddr
	}
	for i := range c.States {
		s := &c.States[i]
		for _, r := range s.Ranges {
			// Cannot fail: Validate checked what the registry checks.
			if err := d.reg.RegisterRemote(s.Job, s.Name, r.KeyGroups, s.MaxParallelism, s.RangeID(r), addr[r.Node]); err != nil {
				return nil, fmt.Errorf("cluster: %w", err)
			}
		}
	}
	return d, nil
}

// Cluster returns the description d answers from (do not modify it).
func (d *Static) Cluster() *Cluster { return d.c }

// Owner implements Directory.
func (d *Static) Owner(_ context.Context, job registry.JobID, name string, keyHash int32) (registry.Owner, error) {
	loc, ok := d.reg.Location(job, []byte(name))
	if !ok {
		return registry.Owner{}, fmt.Errorf("%w: state %q of job %s", ErrUnknownState, name, job)
	}
	kg := loc.KeyGroup(keyHash)
	o, ok := loc.Owner(kg)
	if !ok {
		return registry.Owner{}, fmt.Errorf("%w: key group %d of state %q of job %s", ErrNoOwner, kg, name, job)
	}
	return o, nil
}

// DefaultReloadInterval is how often at most a FileDirectory looks at its
// file for changes (1 s): Owner is asked on every retry, and a dead node
// can cause thousands a second; a second is quick enough for an operator
// who edits the file to move a dead node's ranges.
const DefaultReloadInterval = time.Second

// FileDirectory is a Directory over a cluster description file. When asked
// for an owner it re-reads the file if it changed (size, modification time
// or identity), at most once per ReloadInterval, so that an operator can
// move ranges by editing the file; a file that no longer parses leaves the
// last good view in place (Reload reports why). Safe for concurrent use.
type FileDirectory struct {
	path     string
	interval time.Duration

	view      atomic.Pointer[fileView]
	lastCheck atomic.Int64 // unix nanoseconds of the last look at the file
	mu        sync.Mutex   // serializes reloads
}

type fileView struct {
	dir  *Static
	info os.FileInfo
}

// OpenFile returns a FileDirectory over the file at path, which must hold
// a valid cluster description now. interval bounds how often the file is
// looked at (0 means DefaultReloadInterval; negative, on every Owner).
func OpenFile(path string, interval time.Duration) (*FileDirectory, error) {
	if interval == 0 {
		interval = DefaultReloadInterval
	}
	d := &FileDirectory{path: path, interval: interval}
	if _, err := d.Reload(); err != nil {
		return nil, err
	}
	d.lastCheck.Store(time.Now().UnixNano())
	return d, nil
}

// Cluster returns the description d answers from now (do not modify it).
func (d *FileDirectory) Cluster() *Cluster { return d.view.Load().dir.Cluster() }

// Reload re-reads the file if it changed since it was last read, and
// reports whether the view changed. On error the view stays as it was.
func (d *FileDirectory) Reload() (changed bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	info, err := os.Stat(d.path)
	if err != nil {
		return false, fmt.Errorf("cluster: %w", err)
	}
	old := d.view.Load()
	if old != nil && os.SameFile(old.info, info) && old.info.Size() == info.Size() && old.info.ModTime().Equal(info.ModTime()) {
		return false, nil
	}
	c, err := Load(d.path)
	if err != nil {
		return false, err
	}
	dir, err := NewStatic(c)
	if err != nil {
		return false, err
	}
	d.view.Store(&fileView{dir: dir, info: info})
	return true, nil
}

// Owner implements Directory, after re-reading the file if it changed and
// was last looked at more than the reload interval ago.
func (d *FileDirectory) Owner(ctx context.Context, job registry.JobID, name string, keyHash int32) (registry.Owner, error) {
	now := time.Now().UnixNano()
	if last := d.lastCheck.Load(); now-last >= int64(d.interval) && d.lastCheck.CompareAndSwap(last, now) {
		_, _ = d.Reload() // a broken edit keeps the last good view
	}
	return d.view.Load().dir.Owner(ctx, job, name, keyHash)
}
