package cluster

import (
	"errors"
	"fmt"

	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/state"
)

// LocalFunc supplies the state that answers range r of s on this node. It
// may return the same KvState for several ranges (one state holding the
// keys of all of them). It is called once per range the node holds, from
// Apply's goroutine.
type LocalFunc func(s *State, r Range) (state.KvState, error)

// Apply registers in reg the view node has of c: each range node holds,
// with the state local returns for it, under the range's KvStateID
// (registry.RegisterWithID); each range another node holds as a remote
// registration under its KvStateID at that node's state-server address
// (registry.RegisterRemote). It returns the KvStateIDs it registered, for
// Unregister.
//
// It fails, having unregistered whatever it registered, when c is invalid,
// node is not one of c's nodes (ErrUnknownNode), local gives no state for a
// range of node's (ErrNoLocalState), or the registry refuses a
// registration (reg already holds overlapping key groups of a state, with
// another max parallelism, or one of the IDs).
func Apply(reg *registry.Registry, c *Cluster, node string, local LocalFunc) (ids []registry.KvStateID, err error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if _, ok := c.Node(node); !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownNode, node)
	}
	defer func() {
		if err != nil {
			for _, id := range ids {
				_ = reg.Unregister(id)
			}
			ids = nil
		}
	}()
	for i := range c.States {
		s := &c.States[i]
		for _, r := range s.Ranges {
			id := s.RangeID(r)
			where := fmt.Sprintf("state %q of job %s, key groups %d-%d", s.Name, s.Job, r.KeyGroups.Start, r.KeyGroups.End)
			if r.Node != node {
				owner, _ := c.Node(r.Node)
				if err := reg.RegisterRemote(s.Job, s.Name, r.KeyGroups, s.MaxParallelism, id, owner.StateAddr); err != nil {
					return ids, fmt.Errorf("cluster: %s on node %q: %w", where, r.Node, err)
				}
				ids = append(ids, id)
				continue
			}
			if local == nil {
				return ids, fmt.Errorf("%w: %s (no LocalFunc)", ErrNoLocalState, where)
			}
			kvs, err := local(s, r)
			if err == nil && kvs == nil {
				err = errors.New("LocalFunc returned no state")
			}
			if err != nil {
				return ids, fmt.Errorf("%w: %s: %w", ErrNoLocalState, where, err)
			}
			if err := reg.RegisterWithID(s.Job, s.Name, r.KeyGroups, s.MaxParallelism, id, kvs); err != nil {
				return ids, fmt.Errorf("cluster: %s on this node (%q): %w", where, node, err)
			}
			ids = append(ids, id)
		}
	}
	return ids, nil
}
