package cluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/state"
)

// fakeState is a KvState answering its own name.
type fakeState string

func (f fakeState) Get([]byte) ([]byte, bool, error) { return []byte(f), true, nil }

func mustParse(t testing.TB, s string) *Cluster {
	t.Helper()
	c, err := Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// hashFor returns a key hash whose key group (of maxP) is kg.
func hashFor(t testing.TB, kg, maxP int) int32 {
	t.Helper()
	for h := range int32(1 << 20) {
		if registry.KeyGroupForHash(h, maxP) == kg {
			return h
		}
	}
	t.Fatalf("no hash for key group %d of %d", kg, maxP)
	return 0
}

func TestStaticDirectory(t *testing.T) {
	c := mustParse(t, validFile)
	d, err := NewStatic(c)
	if err != nil {
		t.Fatal(err)
	}
	st := &c.States[0]
	for kg := range st.MaxParallelism {
		o, err := d.Owner(context.Background(), st.Job, st.Name, hashFor(t, kg, st.MaxParallelism))
		if err != nil {
			t.Fatalf("key group %d: %v", kg, err)
		}
		var want Range
		for _, r := range st.Ranges {
			if r.KeyGroups.Contains(kg) {
				want = r
			}
		}
		n, _ := c.Node(want.Node)
		if o.ID != st.RangeID(want) || o.Addr != n.StateAddr {
			t.Fatalf("key group %d: owner %+v, want %s at %s", kg, o, st.RangeID(want), n.StateAddr)
		}
	}
	// The second state has 4 key groups: routing uses its own max parallelism.
	other := &c.States[1]
	if o, err := d.Owner(context.Background(), other.Job, "other", hashFor(t, 3, 4)); err != nil || o.Addr != "127.0.0.1:9067" {
		t.Errorf("other, key group 3: %+v, %v", o, err)
	}
	if _, err := d.Owner(context.Background(), other.Job, "other", hashFor(t, 1, 4)); !errors.Is(err, ErrNoOwner) {
		t.Errorf("uncovered key group: %v", err)
	}
	if _, err := d.Owner(context.Background(), other.Job, "nope", 0); !errors.Is(err, ErrUnknownState) {
		t.Errorf("unknown state: %v", err)
	}
	if _, err := NewStatic(&Cluster{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("NewStatic(invalid): %v", err)
	}
}

// TestLateDirectory: before Set a LateDirectory fails every look-up with
// ErrNoDirectory; after, it answers as the directory set, and Set again
// replaces it.
func TestLateDirectory(t *testing.T) {
	c := mustParse(t, validFile)
	st := &c.States[0]
	var late LateDirectory
	if _, err := late.Owner(context.Background(), st.Job, st.Name, 0); !errors.Is(err, ErrNoDirectory) {
		t.Fatalf("before Set: %v, want ErrNoDirectory", err)
	}
	d, err := NewStatic(c)
	if err != nil {
		t.Fatal(err)
	}
	late.Set(d)
	for kg := range st.MaxParallelism {
		h := hashFor(t, kg, st.MaxParallelism)
		got, gotErr := late.Owner(context.Background(), st.Job, st.Name, h)
		want, wantErr := d.Owner(context.Background(), st.Job, st.Name, h)
		if got != want || (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("key group %d: %+v, %v; the directory set answers %+v, %v", kg, got, gotErr, want, wantErr)
		}
	}
	if _, err := late.Owner(context.Background(), st.Job, "nope", 0); !errors.Is(err, ErrUnknownState) {
		t.Fatalf("unknown state through the late directory: %v", err)
	}
	late.Set(failingDirectory{})
	if _, err := late.Owner(context.Background(), st.Job, st.Name, 0); !errors.Is(err, errFailing) {
		t.Fatalf("after a second Set: %v, want the new directory's answer", err)
	}
}

var errFailing = errors.New("failing directory")

// failingDirectory fails every look-up with errFailing.
type failingDirectory struct{}

func (failingDirectory) Owner(context.Context, registry.JobID, string, int32) (registry.Owner, error) {
	return registry.Owner{}, errFailing
}

// TestFileDirectoryReload: editing the file moves a range; a broken edit
// keeps the last good view.
func TestFileDirectoryReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cluster.json")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(validFile)
	d, err := OpenFile(path, -1) // look at the file on every Owner
	if err != nil {
		t.Fatal(err)
	}
	c := d.Cluster()
	st := &c.States[0]
	h := hashFor(t, 50, 128) // held by b
	owner := func() registry.Owner {
		t.Helper()
		o, err := d.Owner(context.Background(), st.Job, st.Name, h)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	if o := owner(); o.Addr != "127.0.0.1:9167" {
		t.Fatalf("owner %+v, want b", o)
	}
	// Move b's range to c: its address and its (named) ID are c's now.
	moved := strings.Replace(validFile, `{"node": "b", "keyGroups": "43-85", "kvStateId": "0123456789ABCDEF0123456789abcdef"}`,
		`{"node": "c", "keyGroups": "43-85"}`, 1)
	write(moved)
	o := owner()
	if want := DeriveKvStateID(st.Job, st.Name, 128, registry.KeyGroupRange{Start: 43, End: 85}, "c"); o.Addr != "[::1]:9267" || o.ID != want {
		t.Fatalf("after the edit: owner %+v, want c's", o)
	}
	write(`{"nodes": [`)
	if o2 := owner(); o2 != o {
		t.Errorf("a broken file changed the owner to %+v", o2)
	}
	if _, err := d.Reload(); !errors.Is(err, ErrInvalid) {
		t.Errorf("Reload of a broken file: %v", err)
	}
	if _, err := OpenFile(path, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("OpenFile of a broken file: %v", err)
	}
	write(validFile)
	if changed, err := d.Reload(); err != nil || !changed {
		t.Errorf("Reload = %v, %v; want a change", changed, err)
	}
	if changed, err := d.Reload(); err != nil || changed {
		t.Errorf("Reload of an unchanged file = %v, %v", changed, err)
	}
}

// TestFileDirectoryInterval: within the interval the file is not looked at.
func TestFileDirectoryInterval(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cluster.json")
	if err := os.WriteFile(path, []byte(validFile), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := OpenFile(path, 1<<62)
	if err != nil {
		t.Fatal(err)
	}
	st := &d.Cluster().States[0]
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Owner(context.Background(), st.Job, st.Name, 0); err != nil {
		t.Errorf("Owner within the interval looked at the (removed) file: %v", err)
	}
}

func TestApply(t *testing.T) {
	c := mustParse(t, validFile)
	reg := registry.New()
	var asked []string
	ids, err := Apply(reg, c, "a", func(s *State, r Range) (state.KvState, error) {
		asked = append(asked, s.Name+":"+r.Node)
		return fakeState("a:" + s.Name), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 5 {
		t.Errorf("%d registrations, want 5", len(ids))
	}
	if strings.Join(asked, ",") != "state:a,other:a" {
		t.Errorf("LocalFunc asked for %v", asked)
	}
	for i := range c.States {
		st := &c.States[i]
		loc, ok := reg.Location(st.Job, []byte(st.Name))
		if !ok || loc.NumKeyGroups() != st.MaxParallelism {
			t.Fatalf("state %s: location %v, %v", st.Name, loc, ok)
		}
		for _, r := range st.Ranges {
			for _, kg := range []int{r.KeyGroups.Start, r.KeyGroups.End} {
				o, ok := loc.Owner(kg)
				n, _ := c.Node(r.Node)
				switch {
				case !ok || o.ID != st.RangeID(r):
					t.Errorf("%s key group %d: owner %+v, %v; want %s", st.Name, kg, o, ok, st.RangeID(r))
				case r.Node == "a" && !o.Local():
					t.Errorf("%s key group %d: own range registered as remote %+v", st.Name, kg, o)
				case r.Node != "a" && o.Addr != n.StateAddr:
					t.Errorf("%s key group %d: owner %+v, want at %s", st.Name, kg, o, n.StateAddr)
				}
			}
		}
	}
	if s, ok := reg.KvState(c.States[0].RangeID(c.States[0].Ranges[0])); !ok || s != fakeState("a:state") {
		t.Errorf("local state: %v, %v", s, ok)
	}
}

// TestApplyFailsCleanly: a failed Apply leaves the registry as it was.
func TestApplyFailsCleanly(t *testing.T) {
	c := mustParse(t, validFile)
	for _, tc := range []struct {
		name  string
		node  string
		local LocalFunc
		want  error
	}{
		{"unknown node", "z", nil, ErrUnknownNode},
		{"no LocalFunc", "c", nil, ErrNoLocalState},
		{"LocalFunc fails", "c", func(*State, Range) (state.KvState, error) { return nil, errNoAnswer }, errNoAnswer},
		{"LocalFunc gives nil", "c", func(*State, Range) (state.KvState, error) { return nil, nil }, ErrNoLocalState},
		// The second state's first range is c's: the first state registered fully before the failure.
		{"second state fails", "c", func(s *State, _ Range) (state.KvState, error) {
			if s.Name == "other" {
				return nil, errNoAnswer
			}
			return fakeState("x"), nil
		}, errNoAnswer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := registry.New()
			ids, err := Apply(reg, c, tc.node, tc.local)
			if !errors.Is(err, tc.want) || ids != nil {
				t.Fatalf("Apply = %v, %v; want %v", ids, err, tc.want)
			}
			if n := len(reg.Registrations()); n != 0 {
				t.Errorf("%d registrations left", n)
			}
		})
	}
	// A registry that already holds a clashing range refuses, and keeps what it had.
	reg := registry.New()
	st := &c.States[0]
	if _, err := reg.Register(st.Job, st.Name, registry.KeyGroupRange{Start: 100, End: 100}, 128, fakeState("old")); err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(reg, c, "a", func(*State, Range) (state.KvState, error) { return fakeState("a"), nil }); !errors.Is(err, registry.ErrNameClash) {
		t.Errorf("Apply over a clashing registration: %v", err)
	}
	if n := len(reg.Registrations()); n != 1 {
		t.Errorf("%d registrations, want the 1 there before", n)
	}
	if _, err := Apply(reg, &Cluster{}, "a", nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("Apply(invalid): %v", err)
	}
}
