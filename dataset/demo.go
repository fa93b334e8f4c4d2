package dataset

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/state"
)

// The demo task: a small stream job embedded in `qstate serve` that keeps
// three queryable states of the kinds Flink has changing under a fixed
// JobID, so that a fresh server has something live to query.
const (
	// DemoJobID is the demo task's JobID.
	DemoJobID = "de000000000000000000000000000001"

	// DemoWordCounts is a ValueState<Long> keyed by String: how often each
	// word has been seen.
	DemoWordCounts = "word-counts"
	// DemoRecentEvents is a ListState<String> keyed by String (a user): that
	// user's latest events, oldest first, at most DemoRecentMax.
	DemoRecentEvents = "recent-events"
	// DemoUserAttributes is a MapState<String, String> keyed by String (a
	// user): attributes such as "city", "last-event" and "events".
	DemoUserAttributes = "user-attributes"

	// DemoRecentMax is the length of each recent-events list.
	DemoRecentMax = 5
	// DemoMaxParallelism is the demo states' number of key groups, all held here.
	DemoMaxParallelism = registry.DefaultMaxParallelism
	// DefaultDemoInterval is how often the demo task processes an event.
	DefaultDemoInterval = 100 * time.Millisecond
)

// DemoWords are the words the demo counts: the keys of DemoWordCounts.
var DemoWords = []string{"flink", "state", "query", "stream", "window", "key", "value", "go"}

// DemoUsers are the users of the demo: the keys of DemoRecentEvents and
// DemoUserAttributes.
var DemoUsers = []string{"alice", "bob", "carol", "dave"}

// demoActions are the events the demo users perform.
var demoActions = []string{"login", "search", "view", "click", "purchase", "logout"}

// demoCities are the users' "city" attributes, by user index.
var demoCities = []string{"Berlin", "Lisbon", "Oslo", "Tallinn"}

// DemoStateInfo describes one demo state for people who query it: its
// name, Flink state kind, key and value types (the type names `qstate
// query` accepts) and example keys.
type DemoStateInfo struct {
	Name        string
	Kind        string // "value", "list" or "map"
	KeyType     string
	ValueType   string // for a map: "string->string"
	ExampleKeys []string
}

// DemoStates describes the demo states.
func DemoStates() []DemoStateInfo {
	return []DemoStateInfo{
		{DemoWordCounts, "value", "string", "long", DemoWords[:3]},
		{DemoRecentEvents, "list", "string", "string", DemoUsers[:2]},
		{DemoUserAttributes, "map", "string", "string->string", DemoUsers[:2]},
	}
}

// Demo is the demo task: its states, registered in a registry, and the
// generator that updates them. Its methods are safe for concurrent use;
// queries read the states concurrently with Step.
type Demo struct {
	counts *state.ValueState[string, state.VoidNamespace, int64]
	recent *state.ListState[string, state.VoidNamespace, string]
	attrs  *state.MapState[string, state.VoidNamespace, string, string]

	mu     sync.Mutex // guards rng, seq and the read-modify-write of counts
	rng    *rand.Rand
	seq    int
	events []int // events per user
}

// NewDemo creates the demo states, gives every example key a first value
// (so each is queryable at once) and registers them in r under DemoJobID,
// each owning all DemoMaxParallelism key groups.
func NewDemo(r *registry.Registry) (*Demo, error) {
	job, err := registry.ParseJobID(DemoJobID)
	if err != nil {
		return nil, err
	}
	d := &Demo{
		counts: state.NewValueState(state.String, state.Void, state.Long),
		recent: state.NewListState(state.String, state.Void, state.String),
		attrs:  state.NewMapState(state.String, state.Void, state.String, state.String),
		rng:    rand.New(rand.NewPCG(1, 2)),
		events: make([]int, len(DemoUsers)),
	}
	for _, w := range DemoWords {
		d.counts.Void().Update(w, 1)
	}
	for i, u := range DemoUsers {
		d.recent.Void().Add(u, "signup")
		d.attrs.Void().PutAll(u, map[string]string{"city": demoCities[i%len(demoCities)], "last-event": "signup", "events": "0"})
	}
	all := registry.KeyGroupRange{Start: 0, End: DemoMaxParallelism - 1}
	for _, reg := range []struct {
		name string
		s    state.KvState
	}{{DemoWordCounts, d.counts}, {DemoRecentEvents, d.recent}, {DemoUserAttributes, d.attrs}} {
		if _, err := r.Register(job, reg.name, all, DemoMaxParallelism, reg.s); err != nil {
			return nil, fmt.Errorf("dataset: register demo state %q: %w", reg.name, err)
		}
	}
	return d, nil
}

// Step processes one event: a word is counted, a user does something,
// which is appended to their recent events (the oldest dropped beyond
// DemoRecentMax) and recorded in their attributes.
func (d *Demo) Step() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seq++
	w := DemoWords[d.rng.IntN(len(DemoWords))]
	n, _ := d.counts.Void().Value(w)
	d.counts.Void().Update(w, n+1)

	ui := d.rng.IntN(len(DemoUsers))
	u := DemoUsers[ui]
	ev := demoActions[d.rng.IntN(len(demoActions))] + "#" + strconv.Itoa(d.seq)
	list := append(d.recent.Void().Elements(u), ev)
	if len(list) > DemoRecentMax {
		list = list[len(list)-DemoRecentMax:]
	}
	d.recent.Void().Update(u, list)
	d.events[ui]++
	d.attrs.Void().Put(u, "last-event", ev)
	d.attrs.Void().Put(u, "events", strconv.Itoa(d.events[ui]))
}

// Count returns the current count of word (for tests and examples).
func (d *Demo) Count(word string) (int64, bool) { return d.counts.Void().Value(word) }

// Run calls Step every interval (DefaultDemoInterval when <= 0) until ctx
// ends; it returns ctx.Err().
func (d *Demo) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = DefaultDemoInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			d.Step()
		}
	}
}

// DemoKvStateID returns the KvStateID a demo state was registered under in
// r; false when NewDemo has not run on r.
func DemoKvStateID(r *registry.Registry, name string) (registry.KvStateID, bool) {
	return kvStateIDOf(r, DemoJobID, name)
}
