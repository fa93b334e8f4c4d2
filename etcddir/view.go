package etcddir

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/qstate/qstate/cluster"
	"github.com/qstate/qstate/registry"
)

// Member is a live node of the cluster: its name and the addresses it
// published with its lease.
type Member struct {
	Name      string
	ProxyAddr string // proxy port (KvStateRequest), what clients query
	StateAddr string // state-server port (KvStateInternalRequest), what peers forward to
}

// Claim is one key-group range a node published for a state: the node
// holds those key groups under KvStateID ID. Revision is the etcd revision
// that created the claim: of two claims on a key group, the higher
// (newer) one wins.
type Claim struct {
	Node           string
	ID             registry.KvStateID
	KeyGroups      registry.KeyGroupRange
	MaxParallelism int
	Revision       int64
}

// Piece is a part of a claim that no newer claim covers: the key groups
// its node serves.
type Piece struct {
	KeyGroups registry.KeyGroupRange
	Claim     *Claim
	StateAddr string // the claim's node's state-server address
}

// State is one queryable state (job, name) as the cluster holds it.
type State struct {
	Job            registry.JobID
	Name           string
	MaxParallelism int      // the newest claim's
	Claims         []*Claim // every live claim, newest first
	Pieces         []Piece  // who serves which key groups, by key group, disjoint
}

// Uncovered returns the key-group ranges of s no live node serves, in
// order (nil when every key group has an owner).
func (s *State) Uncovered() []registry.KeyGroupRange {
	var out []registry.KeyGroupRange
	next := 0
	for _, p := range s.Pieces {
		if p.KeyGroups.Start > next {
			out = append(out, registry.KeyGroupRange{Start: next, End: p.KeyGroups.Start - 1})
		}
		next = p.KeyGroups.End + 1
	}
	if next < s.MaxParallelism {
		out = append(out, registry.KeyGroupRange{Start: next, End: s.MaxParallelism - 1})
	}
	return out
}

// Visible returns the key groups of c that no newer claim covers (its
// pieces), in order.
func (s *State) Visible(c *Claim) []registry.KeyGroupRange {
	var out []registry.KeyGroupRange
	for _, p := range s.Pieces {
		if p.Claim == c {
			out = append(out, p.KeyGroups)
		}
	}
	return out
}

// View is the cluster as one etcd revision shows it: live members, and for
// each state its claims and who serves each key group. A View is immutable;
// its look-ups neither lock nor allocate.
type View struct {
	Revision int64
	Members  []Member // by name
	States   []*State // by job, then name

	members map[string]*Member
	states  map[stateKey]*State
}

type stateKey struct {
	job  registry.JobID
	name string
}

// Member returns the live member called name.
func (v *View) Member(name string) (Member, bool) {
	if m, ok := v.members[name]; ok {
		return *m, true
	}
	return Member{}, false
}

// State returns the state name of job.
func (v *View) State(job registry.JobID, name string) (*State, bool) {
	s, ok := v.states[stateKey{job, name}]
	return s, ok
}

// Owner is cluster.Directory's look-up on this view: the KvStateID and
// state-server address serving the key group of keyHash.
func (v *View) Owner(job registry.JobID, name string, keyHash int32) (registry.Owner, error) {
	s, ok := v.states[stateKey{job, name}]
	if !ok {
		return registry.Owner{}, fmt.Errorf("%w: state %q of job %s (etcd revision %d)", cluster.ErrUnknownState, name, job, v.Revision)
	}
	kg := registry.KeyGroupForHash(keyHash, s.MaxParallelism)
	ps := s.Pieces
	i, found := slices.BinarySearchFunc(ps, kg, func(p Piece, kg int) int {
		switch {
		case p.KeyGroups.End < kg:
			return -1
		case p.KeyGroups.Start > kg:
			return 1
		}
		return 0
	})
	if !found {
		return registry.Owner{}, fmt.Errorf("%w: key group %d of state %q of job %s (etcd revision %d)", cluster.ErrNoOwner, kg, name, job, v.Revision)
	}
	return registry.Owner{ID: ps[i].Claim.ID, Addr: ps[i].StateAddr}, nil
}

// claimRecord is a claim as read from etcd, with the state it is for.
type claimRecord struct {
	Claim
	Job  registry.JobID
	Name string
}

// buildView computes the view of revision rev from the live records: a
// claim counts only while its node's member record lives; per state, the
// newest claim fixes the max parallelism (older claims with another one
// are shadowed whole), and each key group goes to the newest claim on it
// (ties, impossible across nodes, to the node name, then the ID).
func buildView(rev int64, members map[string]Member, claims map[string]claimRecord) *View {
	v := &View{Revision: rev, members: make(map[string]*Member, len(members)), states: make(map[stateKey]*State)}
	for _, m := range members {
		v.Members = append(v.Members, m)
	}
	slices.SortFunc(v.Members, func(a, b Member) int { return cmp.Compare(a.Name, b.Name) })
	for i := range v.Members {
		v.members[v.Members[i].Name] = &v.Members[i]
	}
	for _, r := range claims {
		if _, ok := members[r.Node]; !ok {
			continue
		}
		k := stateKey{r.Job, r.Name}
		s := v.states[k]
		if s == nil {
			s = &State{Job: r.Job, Name: r.Name}
			v.states[k] = s
			v.States = append(v.States, s)
		}
		c := r.Claim
		s.Claims = append(s.Claims, &c)
	}
	slices.SortFunc(v.States, func(a, b *State) int {
		return cmp.Or(slices.Compare(a.Job[:], b.Job[:]), cmp.Compare(a.Name, b.Name))
	})
	for _, s := range v.States {
		slices.SortFunc(s.Claims, func(a, b *Claim) int {
			return cmp.Or(cmp.Compare(b.Revision, a.Revision), cmp.Compare(b.Node, a.Node), slices.Compare(b.ID[:], a.ID[:]))
		})
		s.MaxParallelism = s.Claims[0].MaxParallelism
		var covered []registry.KeyGroupRange // sorted, disjoint
		for _, c := range s.Claims {
			if c.MaxParallelism != s.MaxParallelism {
				continue
			}
			for _, r := range subtract(c.KeyGroups, covered) {
				s.Pieces = append(s.Pieces, Piece{KeyGroups: r, Claim: c, StateAddr: v.members[c.Node].StateAddr})
			}
			covered = union(covered, c.KeyGroups)
		}
		slices.SortFunc(s.Pieces, func(a, b Piece) int { return cmp.Compare(a.KeyGroups.Start, b.KeyGroups.Start) })
	}
	return v
}

// subtract returns the parts of r outside the sorted, disjoint ranges rs.
func subtract(r registry.KeyGroupRange, rs []registry.KeyGroupRange) []registry.KeyGroupRange {
	var out []registry.KeyGroupRange
	next := r.Start
	for _, o := range rs {
		if o.End < next || o.Start > r.End {
			continue
		}
		if o.Start > next {
			out = append(out, registry.KeyGroupRange{Start: next, End: o.Start - 1})
		}
		next = max(next, o.End+1)
	}
	if next <= r.End {
		out = append(out, registry.KeyGroupRange{Start: next, End: r.End})
	}
	return out
}

// union adds r to the sorted, disjoint ranges rs, merging what touches.
func union(rs []registry.KeyGroupRange, r registry.KeyGroupRange) []registry.KeyGroupRange {
	out := make([]registry.KeyGroupRange, 0, len(rs)+1)
	for _, o := range rs {
		switch {
		case o.End+1 < r.Start:
			out = append(out, o)
		case r.End+1 < o.Start:
			out = append(out, r)
			r = o
		default:
			r = registry.KeyGroupRange{Start: min(r.Start, o.Start), End: max(r.End, o.End)}
		}
	}
	return append(out, r)
}
