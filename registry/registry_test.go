package registry

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/qstate/qstate/internal/qstatetest"
	"github.com/qstate/qstate/state"
)

// fakeState is a KvState answering its own name.
type fakeState string

func (f fakeState) Get([]byte) ([]byte, bool, error) { return []byte(f), true, nil }

var (
	job1 = JobID{1}
	job2 = JobID{2}
)

func mustRegister(t *testing.T, r *Registry, job JobID, name string, kgr KeyGroupRange, maxP int, s state.KvState) KvStateID {
	t.Helper()
	id, err := r.Register(job, name, kgr, maxP, s)
	if err != nil {
		t.Fatalf("Register(%s, %v): %v", name, kgr, err)
	}
	return id
}

func expectErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("error %v, want %v", err, want)
	}
}

func TestZeroRegistry(t *testing.T) {
	var r Registry
	if _, ok := r.KvState(KvStateID{}); ok {
		t.Error("zero registry has a state")
	}
	if _, ok := r.Location(job1, []byte("x")); ok {
		t.Error("zero registry has a location")
	}
	expectErr(t, r.Unregister(KvStateID{}), ErrUnknownKvStateID)
	id := mustRegister(t, &r, job1, "x", KeyGroupRange{0, 127}, 128, fakeState("x"))
	if s, ok := r.KvState(id); !ok || s != fakeState("x") {
		t.Error("registered state not found")
	}
}

func TestRegisterAndLookup(t *testing.T) {
	r := New()
	// Three operators of parallelism 3 register their ranges of 128 key groups.
	ids := make([]KvStateID, 3)
	for i := range ids {
		ids[i] = mustRegister(t, r, job1, "counts", KeyGroupRangeFor(128, 3, i), 128, fakeState(rune('a'+i)))
	}
	if ids[0] == ids[1] || ids[1] == ids[2] {
		t.Fatal("KvStateIDs repeat")
	}
	for i, id := range ids {
		s, ok := r.KvState(id)
		if !ok || s != fakeState(rune('a'+i)) {
			t.Errorf("KvState(%s) = %v, %v", id, s, ok)
		}
	}
	loc, ok := r.Location(job1, []byte("counts"))
	if !ok || loc.NumKeyGroups() != 128 || loc.NumRegisteredKeyGroups() != 128 || loc.Name() != "counts" || loc.Job() != job1 {
		t.Fatalf("Location = %+v, %v", loc, ok)
	}
	for kg := 0; kg < 128; kg++ {
		o, ok := loc.Owner(kg)
		if want := ids[OperatorIndex(128, 3, kg)]; !ok || o.ID != want || !o.Local() {
			t.Errorf("Owner(%d) = %v, %v; want %s", kg, o, ok, want)
		}
	}
	if _, ok := loc.Owner(128); ok {
		t.Error("Owner(128) found")
	}
	if _, ok := loc.Owner(-1); ok {
		t.Error("Owner(-1) found")
	}
	if loc.KeyGroup(99162322) != 35 { // "hello", PROTOCOL.md §5.5
		t.Errorf("KeyGroup(hash of hello) = %d", loc.KeyGroup(99162322))
	}
	// Other jobs and names are separate.
	if _, ok := r.Location(job2, []byte("counts")); ok {
		t.Error("job2 has counts")
	}
	if _, ok := r.Location(job1, []byte("count")); ok {
		t.Error("name prefix found")
	}
	id2 := mustRegister(t, r, job2, "counts", KeyGroupRange{0, 255}, 256, fakeState("j2"))
	if loc2, ok := r.Location(job2, []byte("counts")); !ok || loc2.NumKeyGroups() != 256 {
		t.Error("job2 counts missing")
	}
	if len(r.Registrations()) != 4 {
		t.Errorf("Registrations: %d", len(r.Registrations()))
	}
	// A Location held before a change is unchanged (I1).
	if err := r.Unregister(ids[1]); err != nil {
		t.Fatal(err)
	}
	if o, ok := loc.Owner(60); !ok || o.ID != ids[1] {
		t.Error("held Location changed")
	}
	loc, _ = r.Location(job1, []byte("counts"))
	if _, ok := loc.Owner(60); ok || loc.NumRegisteredKeyGroups() != 128-43 {
		t.Errorf("after Unregister: Owner(60) found %v, %d registered", ok, loc.NumRegisteredKeyGroups())
	}
	if _, ok := r.KvState(ids[1]); ok {
		t.Error("unregistered KvState found")
	}
	// The freed range can be registered again.
	ids[1] = mustRegister(t, r, job1, "counts", KeyGroupRangeFor(128, 3, 1), 128, fakeState("b2"))
	// Unregistering the last range removes the name.
	for _, id := range ids {
		if err := r.Unregister(id); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := r.Location(job1, []byte("counts")); ok {
		t.Error("name remains after its last range is unregistered")
	}
	expectErr(t, r.Unregister(ids[0]), ErrUnknownKvStateID)
	if err := r.Unregister(id2); err != nil {
		t.Fatal(err)
	}
	if len(r.Registrations()) != 0 {
		t.Error("registrations left")
	}
}

func TestRegistrationRules(t *testing.T) {
	r := New()
	first := mustRegister(t, r, job1, "s", KeyGroupRange{0, 63}, 128, fakeState("a"))
	cases := []struct {
		name string
		kgr  KeyGroupRange
		maxP int
		s    state.KvState
		want error
	}{
		{"overlap", KeyGroupRange{63, 64}, 128, fakeState("b"), ErrNameClash},
		{"same range", KeyGroupRange{0, 63}, 128, fakeState("b"), ErrNameClash},
		{"inside", KeyGroupRange{10, 20}, 128, fakeState("b"), ErrNameClash},
		{"other max parallelism", KeyGroupRange{64, 127}, 256, fakeState("b"), ErrMaxParallelismMismatch},
		{"end past max", KeyGroupRange{64, 128}, 128, fakeState("b"), ErrBadKeyGroupRange},
		{"negative start", KeyGroupRange{-1, 3}, 128, fakeState("b"), ErrBadKeyGroupRange},
		{"empty range", KeyGroupRange{70, 69}, 128, fakeState("b"), ErrBadKeyGroupRange},
		{"max parallelism 0", KeyGroupRange{0, 0}, 0, fakeState("b"), ErrBadMaxParallelism},
		{"max parallelism too big", KeyGroupRange{0, 0}, 1<<15 + 1, fakeState("b"), ErrBadMaxParallelism},
		{"nil state", KeyGroupRange{64, 127}, 128, nil, ErrNilState},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := r.Register(job1, "s", c.kgr, c.maxP, c.s)
			expectErr(t, err, c.want)
		})
	}
	// Nothing of the failed registrations is visible.
	loc, _ := r.Location(job1, []byte("s"))
	if len(r.Registrations()) != 1 || loc.NumRegisteredKeyGroups() != 64 {
		t.Errorf("%d registrations, %d key groups", len(r.Registrations()), loc.NumRegisteredKeyGroups())
	}
	// The adjacent range, the same name in another job, and another name are fine.
	mustRegister(t, r, job1, "s", KeyGroupRange{64, 127}, 128, fakeState("b"))
	mustRegister(t, r, job2, "s", KeyGroupRange{0, 31}, 32, fakeState("c"))
	mustRegister(t, r, job1, "t", KeyGroupRange{0, 0}, 1, fakeState("d"))
	if _, ok := r.KvState(first); !ok {
		t.Error("first registration lost")
	}
}

func TestRegisterRemote(t *testing.T) {
	r := New()
	local := mustRegister(t, r, job1, "s", KeyGroupRange{0, 63}, 128, fakeState("a"))
	remoteID := NewKvStateID()
	if err := r.RegisterRemote(job1, "s", KeyGroupRange{64, 127}, 128, remoteID, "10.0.0.2:9067"); err != nil {
		t.Fatal(err)
	}
	expectErr(t, r.RegisterRemote(job1, "t", KeyGroupRange{0, 1}, 128, remoteID, "x:1"), ErrDuplicateKvStateID)
	expectErr(t, r.RegisterRemote(job1, "t", KeyGroupRange{0, 1}, 128, local, "x:1"), ErrDuplicateKvStateID)
	expectErr(t, r.RegisterRemote(job1, "t", KeyGroupRange{0, 1}, 128, NewKvStateID(), ""), ErrNoAddr)
	expectErr(t, r.RegisterRemote(job1, "s", KeyGroupRange{60, 70}, 128, NewKvStateID(), "x:1"), ErrNameClash)
	loc, _ := r.Location(job1, []byte("s"))
	if o, ok := loc.Owner(100); !ok || o.ID != remoteID || o.Addr != "10.0.0.2:9067" || o.Local() {
		t.Errorf("Owner(100) = %+v, %v", o, ok)
	}
	if o, ok := loc.Owner(5); !ok || o.ID != local || !o.Local() {
		t.Errorf("Owner(5) = %+v, %v", o, ok)
	}
	// A remote registration has no local KvState.
	if _, ok := r.KvState(remoteID); ok {
		t.Error("KvState of a remote registration")
	}
	if err := r.Unregister(remoteID); err != nil {
		t.Fatal(err)
	}
	loc, _ = r.Location(job1, []byte("s"))
	if _, ok := loc.Owner(100); ok {
		t.Error("remote range still owned")
	}
}

func TestRegisterWithID(t *testing.T) {
	r := New()
	id := KvStateID{0xab, 1}
	if err := r.RegisterWithID(job1, "s", KeyGroupRange{0, 63}, 128, id, fakeState("a")); err != nil {
		t.Fatal(err)
	}
	if s, ok := r.KvState(id); !ok || s != fakeState("a") {
		t.Fatalf("KvState(%s) = %v, %v", id, s, ok)
	}
	loc, _ := r.Location(job1, []byte("s"))
	if o, ok := loc.Owner(10); !ok || o.ID != id || !o.Local() {
		t.Errorf("Owner(10) = %+v, %v", o, ok)
	}
	// The rules of Register hold, and a failed registration changes nothing (I2).
	expectErr(t, r.RegisterWithID(job1, "t", KeyGroupRange{0, 1}, 128, id, fakeState("b")), ErrDuplicateKvStateID)
	expectErr(t, r.RegisterWithID(job1, "s", KeyGroupRange{60, 70}, 128, KvStateID{2}, fakeState("b")), ErrNameClash)
	expectErr(t, r.RegisterWithID(job1, "s", KeyGroupRange{64, 100}, 256, KvStateID{3}, fakeState("b")), ErrMaxParallelismMismatch)
	expectErr(t, r.RegisterWithID(job1, "s", KeyGroupRange{64, 128}, 128, KvStateID{4}, fakeState("b")), ErrBadKeyGroupRange)
	expectErr(t, r.RegisterWithID(job1, "s", KeyGroupRange{64, 127}, 128, KvStateID{5}, nil), ErrNilState)
	if got := len(r.Registrations()); got != 1 {
		t.Errorf("%d registrations after failed ones, want 1", got)
	}
	// A remote registration cannot take an ID registered locally, nor the reverse.
	expectErr(t, r.RegisterRemote(job1, "s", KeyGroupRange{64, 127}, 128, id, "x:1"), ErrDuplicateKvStateID)
	if err := r.RegisterRemote(job1, "s", KeyGroupRange{64, 127}, 128, KvStateID{6}, "x:1"); err != nil {
		t.Fatal(err)
	}
	expectErr(t, r.RegisterWithID(job2, "s", KeyGroupRange{0, 1}, 128, KvStateID{6}, fakeState("c")), ErrDuplicateKvStateID)
	if err := r.Unregister(id); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.KvState(id); ok {
		t.Error("state still registered after Unregister")
	}
}

func TestIDs(t *testing.T) {
	const s = "0123456789abcdef0011223344556677"
	j, err := ParseJobID(s)
	if err != nil || j.String() != s || j[0] != 0x01 || j[15] != 0x77 {
		t.Errorf("ParseJobID = %x, %v", j, err)
	}
	if j2, err := ParseJobID(strings.ToUpper(s)); err != nil || j2 != j {
		t.Errorf("upper case: %x, %v", j2, err)
	}
	for _, bad := range []string{"", s[:31], s + "0", "g" + s[1:]} {
		if _, err := ParseJobID(bad); !errors.Is(err, ErrBadID) {
			t.Errorf("ParseJobID(%q) error %v", bad, err)
		}
	}
	id := NewKvStateID()
	back, err := ParseKvStateID(id.String())
	if err != nil || back != id || len(id.String()) != 32 {
		t.Errorf("KvStateID round trip %s -> %s, %v", id, back, err)
	}
	seen := map[KvStateID]bool{}
	for range 1000 {
		id := NewKvStateID()
		if seen[id] || id == (KvStateID{}) {
			t.Fatal("NewKvStateID repeats")
		}
		seen[id] = true
	}
}

// TestKeyGroupRangesTile checks Flink's invariants for many (maxP, p):
// the operators' ranges tile [0, maxP) in order, and OperatorIndex maps
// every key group to the operator whose range holds it.
func TestKeyGroupRangesTile(t *testing.T) {
	for _, maxP := range []int{1, 2, 7, 128, 129, 1000, 32768} {
		for _, p := range []int{1, 2, 3, 5, 7, 64, 127, 128, 1000, 32768} {
			if p > maxP {
				continue
			}
			next := 0
			for op := 0; op < p; op++ {
				r := KeyGroupRangeFor(maxP, p, op)
				if r.Start != next || r.End < r.Start {
					t.Fatalf("maxP %d p %d op %d: %v, want start %d", maxP, p, op, r, next)
				}
				for _, kg := range []int{r.Start, (r.Start + r.End) / 2, r.End} {
					if got := OperatorIndex(maxP, p, kg); got != op {
						t.Fatalf("maxP %d p %d: OperatorIndex(%d) = %d, want %d", maxP, p, kg, got, op)
					}
				}
				next = r.End + 1
			}
			if next != maxP {
				t.Fatalf("maxP %d p %d: ranges end at %d", maxP, p, next)
			}
		}
	}
	for _, bad := range [][3]int{{128, 0, 0}, {128, 129, 0}, {1<<15 + 1, 2, 0}, {128, 2, 2}, {128, 2, -1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("KeyGroupRangeFor%v did not panic", bad)
				}
			}()
			KeyGroupRangeFor(bad[0], bad[1], bad[2])
		}()
	}
}

// TestParseKeyGroupRange: "start-end" or one key group, spaces allowed
// around the numbers; a reversed range parses (its caller refuses it);
// anything else is refused.
func TestParseKeyGroupRange(t *testing.T) {
	for s, want := range map[string]KeyGroupRange{
		"0-42": {0, 42}, " 2 - 3 ": {2, 3}, "99": {99, 99}, "42-0": {42, 0}, "3--5": {3, -5},
	} {
		if got, ok := ParseKeyGroupRange(s); !ok || got != want {
			t.Errorf("ParseKeyGroupRange(%q) = %v, %v; want %v", s, got, ok, want)
		}
	}
	for _, s := range []string{"", " ", "-1-42", "zero-42", "1-", "-", "1-2-3", "0x10"} {
		if got, ok := ParseKeyGroupRange(s); ok {
			t.Errorf("ParseKeyGroupRange(%q) = %v, accepted", s, got)
		}
	}
}

// TestConcurrentLookups registers and unregisters ranges while readers look
// up: every Location a reader sees is whole (its registered count matches
// its owners), and every KvStateID it finds answers.
func TestConcurrentLookups(t *testing.T) {
	r := New()
	name := []byte("s")
	stable := mustRegister(t, r, job1, "s", KeyGroupRange{0, 31}, 128, fakeState("stable"))
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for i := 0; i < 300; i++ {
			op := 1 + i%3
			id := mustRegister(t, r, job1, "s", KeyGroupRangeFor(128, 4, op), 128, fakeState("x"))
			if err := r.Unregister(id); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 2 {
		wg.Go(func() {
			for n := 0; !qstatetest.IsClosed(done); n++ {
				loc, ok := r.Location(job1, name)
				if !ok {
					t.Error("location vanished")
					return
				}
				owned := 0
				for kg := 0; kg < loc.NumKeyGroups(); kg++ {
					if o, ok := loc.Owner(kg); ok {
						owned++
						if _, ok := r.KvState(o.ID); !ok && o.ID == stable {
							t.Error("stable state vanished")
							return
						}
					}
				}
				if owned != loc.NumRegisteredKeyGroups() || (owned != 32 && owned != 64) {
					t.Errorf("location with %d owned key groups, %d registered", owned, loc.NumRegisteredKeyGroups())
					return
				}
			}
		})
	}
	wg.Wait()
}
