package registry

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/qstate/qstate/state"
)

// Owner says where a key group's state lives: ID is its KvStateID; Addr is
// the state-server address of the node that holds it, "" when this
// registry holds the KvState itself.
type Owner struct {
	ID   KvStateID
	Addr string
}

// Local reports whether this registry holds the state (Addr is "").
func (o Owner) Local() bool { return o.Addr == "" }

// Location is where the key groups of one (job, state name) live (Flink's
// KvStateLocation). A Location is immutable: a registration change
// publishes a new one, so a holder may keep using it without locks.
type Location struct {
	job          JobID
	name         string
	numKeyGroups int
	ranges       []owned // sorted by Start, disjoint
	registered   int     // key groups covered by ranges
}

type owned struct {
	kgr   KeyGroupRange
	owner Owner
}

// Job returns the job of the location.
func (l *Location) Job() JobID { return l.job }

// Name returns the queryable state name.
func (l *Location) Name() string { return l.name }

// NumKeyGroups is the number of key groups (the operator's max parallelism).
func (l *Location) NumKeyGroups() int { return l.numKeyGroups }

// NumRegisteredKeyGroups is the number of key groups that have an owner.
func (l *Location) NumRegisteredKeyGroups() int { return l.registered }

// KeyGroup is the key group of a key whose Java hashCode is hash.
func (l *Location) KeyGroup(hash int32) int { return KeyGroupForHash(hash, l.numKeyGroups) }

// Owner returns the owner of keyGroup; false when no registration covers it
// (Flink's UnknownKvStateKeyGroupLocationException). It does not allocate.
func (l *Location) Owner(keyGroup int) (Owner, bool) {
	rs := l.ranges
	lo, hi := 0, len(rs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if rs[m].kgr.End < keyGroup {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(rs) && rs[lo].kgr.Start <= keyGroup {
		return rs[lo].owner, true
	}
	return Owner{}, false
}

// registration is one Register or RegisterRemote.
type registration struct {
	job   JobID
	name  string
	kgr   KeyGroupRange
	maxP  int
	state state.KvState // nil for a remote registration
	addr  string
}

// idShards is the number of maps the KvStateIDs are spread over (by their
// first byte, which is random), so that a registration copies 1/idShards
// of them.
const idShards = 256

// snapshot is the registry's content at one moment; never modified once
// published (I1). A new snapshot shares every map it does not change.
type snapshot struct {
	byID  [idShards]map[KvStateID]*registration
	byJob map[JobID]map[string]*Location
}

func (s *snapshot) reg(id KvStateID) *registration { return s.byID[id[0]][id] }

// Registry maps KvStateIDs to states and (job, state name) to Locations.
// Look-ups read an immutable snapshot through one atomic load: no lock, no
// allocation. Registrations, which are rare, copy what they change and
// publish a new snapshot under a mutex. The zero Registry is empty and
// ready to use; a Registry must not be copied after first use.
type Registry struct {
	mu   sync.Mutex               // serializes writers
	snap atomic.Pointer[snapshot] // nil: empty
}

var emptySnapshot = &snapshot{}

// New returns an empty Registry.
func New() *Registry { return new(Registry) }

// load returns the current snapshot.
func (r *Registry) load() *snapshot {
	if s := r.snap.Load(); s != nil {
		return s
	}
	return emptySnapshot
}

// KvState returns the local state registered under id; false when id is
// unknown or names a remote registration. It does not allocate.
func (r *Registry) KvState(id KvStateID) (state.KvState, bool) {
	reg := r.load().reg(id)
	if reg == nil || reg.state == nil {
		return nil, false
	}
	return reg.state, true
}

// Location returns the location of state name of job; name is the raw
// bytes from the wire (not retained). It does not allocate.
func (r *Registry) Location(job JobID, name []byte) (*Location, bool) {
	l := r.load().byJob[job][string(name)]
	return l, l != nil
}

// Register registers s, held by this node, as the key groups kgr of state
// name of job, whose operator has maxParallelism key groups, and returns
// the new random KvStateID that identifies it. The first registration of
// a (job, name) fixes its max parallelism; later ones must agree
// (ErrMaxParallelismMismatch) and must not overlap registered key groups
// (ErrNameClash). kgr must be within [0, maxParallelism).
func (r *Registry) Register(job JobID, name string, kgr KeyGroupRange, maxParallelism int, s state.KvState) (KvStateID, error) {
	if s == nil {
		return KvStateID{}, ErrNilState
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	id := NewKvStateID()
	for r.load().reg(id) != nil {
		id = NewKvStateID()
	}
	return id, r.add(&registration{job: job, name: name, kgr: kgr, maxP: maxParallelism, state: s}, id)
}

// add checks reg and publishes a snapshot with it; r.mu is held.
func (r *Registry) add(reg *registration, id KvStateID) error {
	ns, err := r.load().with(reg, id)
	if err != nil {
		return err
	}
	r.snap.Store(ns)
	return nil
}

// addNew adds reg under the caller-chosen id, which must not be registered
// already (RegisterWithID, RegisterRemote).
func (r *Registry) addNew(reg *registration, id KvStateID) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.load().reg(id) != nil {
		return fmt.Errorf("%w: %s", ErrDuplicateKvStateID, id)
	}
	return r.add(reg, id)
}

// RegisterWithID registers s, held by this node, as Register does, but
// under the KvStateID id that the caller chose (a cluster layer whose peers
// must know the ID in advance derives it from the cluster description)
// instead of a random one. id must not be registered already
// (ErrDuplicateKvStateID).
func (r *Registry) RegisterWithID(job JobID, name string, kgr KeyGroupRange, maxParallelism int, id KvStateID, s state.KvState) error {
	if s == nil {
		return ErrNilState
	}
	return r.addNew(&registration{job: job, name: name, kgr: kgr, maxP: maxParallelism, state: s}, id)
}

// RegisterRemote records that the key groups kgr of state name of job are
// held by the node at addr under id (a cluster peer's registration). The
// rules of Register apply; id must not be registered already.
func (r *Registry) RegisterRemote(job JobID, name string, kgr KeyGroupRange, maxParallelism int, id KvStateID, addr string) error {
	if addr == "" {
		return ErrNoAddr
	}
	return r.addNew(&registration{job: job, name: name, kgr: kgr, maxP: maxParallelism, addr: addr}, id)
}

// with checks reg and returns a snapshot of old with it added under id.
func (old *snapshot) with(reg *registration, id KvStateID) (*snapshot, error) {
	if reg.maxP < 1 || reg.maxP > MaxParallelismUpperBound {
		return nil, fmt.Errorf("%w: %d", ErrBadMaxParallelism, reg.maxP)
	}
	if reg.kgr.Start < 0 || reg.kgr.End < reg.kgr.Start || reg.kgr.End >= reg.maxP {
		return nil, fmt.Errorf("%w: %s with max parallelism %d", ErrBadKeyGroupRange, reg.kgr, reg.maxP)
	}
	loc := old.byJob[reg.job][reg.name]
	if loc == nil {
		loc = &Location{job: reg.job, name: reg.name, numKeyGroups: reg.maxP}
	} else {
		if loc.numKeyGroups != reg.maxP {
			return nil, fmt.Errorf("%w: state %q of job %s has %d key groups, registration says %d",
				ErrMaxParallelismMismatch, reg.name, reg.job, loc.numKeyGroups, reg.maxP)
		}
		for _, o := range loc.ranges {
			if o.kgr.overlaps(reg.kgr) {
				return nil, fmt.Errorf("%w: state %q of job %s: %s overlaps %s registered as %s",
					ErrNameClash, reg.name, reg.job, reg.kgr, o.kgr, o.owner.ID)
			}
		}
	}
	nl := *loc
	nl.ranges = append(slices.Clone(loc.ranges), owned{reg.kgr, Owner{ID: id, Addr: reg.addr}})
	slices.SortFunc(nl.ranges, func(a, b owned) int { return a.kgr.Start - b.kgr.Start })
	nl.registered += reg.kgr.NumKeyGroups()

	ns := &snapshot{byID: old.byID, byJob: cloneMap(old.byJob)}
	ns.byID[id[0]] = cloneMap(old.byID[id[0]])
	ns.byID[id[0]][id] = reg
	names := cloneMap(old.byJob[reg.job])
	names[reg.name] = &nl
	ns.byJob[reg.job] = names
	return ns, nil
}

// Unregister removes the registration id (local or remote): its key groups
// lose their owner, and when none of the state name's key groups is left
// the name disappears (as in Flink). Unknown ids return ErrUnknownKvStateID.
func (r *Registry) Unregister(id KvStateID) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	ns, err := r.load().without(id)
	if err != nil {
		return err
	}
	r.snap.Store(ns)
	return nil
}

// Replace unregisters the registrations remove, then registers add, as
// one change: a reader sees the registry before or after all of it, never
// between (a cluster layer moving key groups uses it, so that no look-up
// finds them without an owner). An entry of add with a State is local (its
// Addr must be empty), one without is remote at Addr; every rule of
// Register, RegisterWithID, RegisterRemote and Unregister applies, checked
// in order. On error nothing changes.
func (r *Registry) Replace(remove []KvStateID, add []Registration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	ns := r.load()
	var err error
	for _, id := range remove {
		if ns, err = ns.without(id); err != nil {
			return err
		}
	}
	for _, a := range add {
		switch {
		case a.State == nil && a.Addr == "":
			return fmt.Errorf("%w: %s", ErrNoAddr, a.ID)
		case a.State != nil && a.Addr != "":
			return fmt.Errorf("registry: registration %s has both a local state and an address", a.ID)
		}
		if ns.reg(a.ID) != nil {
			return fmt.Errorf("%w: %s", ErrDuplicateKvStateID, a.ID)
		}
		reg := &registration{job: a.Job, name: a.Name, kgr: a.KeyGroups, maxP: a.MaxParallelism, state: a.State, addr: a.Addr}
		if ns, err = ns.with(reg, a.ID); err != nil {
			return err
		}
	}
	r.snap.Store(ns)
	return nil
}

// without returns a snapshot of old without the registration id.
func (old *snapshot) without(id KvStateID) (*snapshot, error) {
	reg := old.reg(id)
	if reg == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknownKvStateID, id)
	}
	ns := &snapshot{byID: old.byID, byJob: cloneMap(old.byJob)}
	ns.byID[id[0]] = cloneMap(old.byID[id[0]])
	delete(ns.byID[id[0]], id)
	names := cloneMap(old.byJob[reg.job])
	loc := names[reg.name]
	nl := *loc
	nl.ranges = slices.DeleteFunc(slices.Clone(loc.ranges), func(o owned) bool { return o.owner.ID == id })
	nl.registered -= reg.kgr.NumKeyGroups()
	if len(nl.ranges) == 0 {
		delete(names, reg.name)
	} else {
		names[reg.name] = &nl
	}
	if len(names) == 0 {
		delete(ns.byJob, reg.job)
	} else {
		ns.byJob[reg.job] = names
	}
	return ns, nil
}

// cloneMap is maps.Clone that never returns nil.
func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	c := make(map[K]V, len(m)+1)
	maps.Copy(c, m)
	return c
}

// Registration describes one registration, for listings.
type Registration struct {
	ID             KvStateID
	Job            JobID
	Name           string
	KeyGroups      KeyGroupRange
	MaxParallelism int
	Addr           string        // "" for a local state
	State          state.KvState // nil for a remote registration
}

// Registrations lists every registration, in no particular order.
func (r *Registry) Registrations() []Registration {
	snap := r.load()
	var out []Registration
	for _, m := range snap.byID {
		for id, reg := range m {
			out = append(out, Registration{ID: id, Job: reg.job, Name: reg.name, KeyGroups: reg.kgr,
				MaxParallelism: reg.maxP, Addr: reg.addr, State: reg.state})
		}
	}
	return out
}
