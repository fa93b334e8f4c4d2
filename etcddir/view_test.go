package etcddir

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/qstate/qstate/cluster"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/state"
)

func kgr(a, b int) registry.KeyGroupRange { return registry.KeyGroupRange{Start: a, End: b} }

func claim(node string, id byte, r registry.KeyGroupRange, maxP int, rev int64) claimRecord {
	c := claimRecord{Job: registry.JobID{1}, Name: "s"}
	c.Node, c.ID, c.KeyGroups, c.MaxParallelism, c.Revision = node, registry.KvStateID{id}, r, maxP, rev
	return c
}

// TestBuildView: per key group the newest claim wins (E2); a claim of a
// node without a member record does not count; an older claim with
// another max parallelism loses whole; pieces are disjoint and ordered.
func TestBuildView(t *testing.T) {
	members := map[string]Member{
		"a": {Name: "a", ProxyAddr: "h:1", StateAddr: "h:2"},
		"b": {Name: "b", ProxyAddr: "h:3", StateAddr: "h:4"},
		"c": {Name: "c", ProxyAddr: "h:5", StateAddr: "h:6"},
	}
	claims := map[string]claimRecord{
		"1": claim("a", 1, kgr(0, 63), 128, 10),
		"2": claim("b", 2, kgr(64, 127), 128, 11),
		"3": claim("c", 3, kgr(20, 30), 128, 12),      // newer, inside a's range: splits it
		"4": claim("b", 4, kgr(60, 70), 128, 5),       // older than both neighbours: only nothing left
		"5": claim("gone", 5, kgr(100, 127), 128, 99), // no member: ignored
		"6": claim("a", 6, kgr(0, 7), 64, 1),          // another max parallelism, older: loses whole
	}
	v := buildView(42, members, claims)
	s, ok := v.State(registry.JobID{1}, "s")
	if !ok {
		t.Fatal("state missing")
	}
	var got []string
	for _, p := range s.Pieces {
		got = append(got, fmt.Sprintf("%s:%s", p.Claim.Node, p.KeyGroups))
	}
	want := []string{"a:KeyGroupRange{startKeyGroup=0, endKeyGroup=19}", "c:KeyGroupRange{startKeyGroup=20, endKeyGroup=30}",
		"a:KeyGroupRange{startKeyGroup=31, endKeyGroup=63}", "b:KeyGroupRange{startKeyGroup=64, endKeyGroup=127}"}
	if !slices.Equal(got, want) {
		t.Errorf("pieces\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if s.MaxParallelism != 128 || len(s.Claims) != 5 || s.Uncovered() != nil {
		t.Errorf("max parallelism %d, %d claims, uncovered %v", s.MaxParallelism, len(s.Claims), s.Uncovered())
	}
	for _, c := range s.Claims {
		if c.ID == (registry.KvStateID{4}) || c.ID == (registry.KvStateID{6}) {
			if vis := s.Visible(c); vis != nil {
				t.Errorf("claim %v is shadowed but visible as %v", c.ID, vis)
			}
		}
	}
	// Owner follows the pieces; an uncovered key group and an unknown state fail typed.
	for k := int32(0); k < 200; k++ {
		kg := registry.KeyGroupForHash(state.Int.HashCode(k), 128)
		o, err := v.Owner(registry.JobID{1}, "s", state.Int.HashCode(k))
		if err != nil {
			t.Fatal(err)
		}
		wantAddr := map[bool]string{true: "h:6", false: "h:2"}[kg >= 20 && kg <= 30]
		if kg >= 64 {
			wantAddr = "h:4"
		}
		if o.Addr != wantAddr {
			t.Fatalf("key group %d: owner %s, want %s", kg, o.Addr, wantAddr)
		}
	}
	if _, err := v.Owner(registry.JobID{2}, "s", 0); !errors.Is(err, cluster.ErrUnknownState) {
		t.Errorf("unknown state: %v", err)
	}
	delete(claims, "2")
	v = buildView(43, members, claims)
	s, _ = v.State(registry.JobID{1}, "s")
	if u := s.Uncovered(); !slices.Equal(u, []registry.KeyGroupRange{kgr(71, 127)}) {
		t.Errorf("uncovered %v, want 71-127 (b's older 60-70 claim shows again)", u)
	}
	k := int32(0)
	for registry.KeyGroupForHash(state.Int.HashCode(k), 128) < 71 {
		k++
	}
	if _, err := v.Owner(registry.JobID{1}, "s", state.Int.HashCode(k)); !errors.Is(err, cluster.ErrNoOwner) {
		t.Errorf("uncovered key group: %v", err)
	}
	if v.Revision != 43 || len(v.Members) != 3 || v.Members[0].Name != "a" {
		t.Errorf("view revision %d, members %v", v.Revision, v.Members)
	}
}

// TestRangeSets: subtract and union on sorted, disjoint ranges.
func TestRangeSets(t *testing.T) {
	rs := []registry.KeyGroupRange{kgr(5, 9), kgr(20, 29)}
	for _, tc := range []struct {
		r    registry.KeyGroupRange
		want []registry.KeyGroupRange
	}{
		{kgr(0, 4), []registry.KeyGroupRange{kgr(0, 4)}},
		{kgr(0, 40), []registry.KeyGroupRange{kgr(0, 4), kgr(10, 19), kgr(30, 40)}},
		{kgr(6, 8), nil},
		{kgr(9, 20), []registry.KeyGroupRange{kgr(10, 19)}},
	} {
		if got := subtract(tc.r, rs); !slices.Equal(got, tc.want) {
			t.Errorf("subtract(%v) = %v, want %v", tc.r, got, tc.want)
		}
	}
	u := union(rs, kgr(10, 19))
	if !slices.Equal(u, []registry.KeyGroupRange{kgr(5, 29)}) {
		t.Errorf("union touching both = %v", u)
	}
	u = union(rs, kgr(0, 2))
	if !slices.Equal(u, []registry.KeyGroupRange{kgr(0, 2), kgr(5, 9), kgr(20, 29)}) {
		t.Errorf("union before = %v", u)
	}
	u = union(rs, kgr(12, 14))
	if !slices.Equal(u, []registry.KeyGroupRange{kgr(5, 9), kgr(12, 14), kgr(20, 29)}) {
		t.Errorf("union between = %v", u)
	}
}

// TestParseRecord: good records parse; bad ones are refused with a reason (E3).
func TestParseRecord(t *testing.T) {
	p := Prefix("c")
	id := "0123456789abcdef0123456789abcdef"
	job := "00112233445566778899aabbccddeeff"
	r, err := parseRecord("c", []byte(p+"members/n1"), []byte(`{"proxy":"h:1","state":"h:2"}`), 3)
	if err != nil || r.member == nil || *r.member != (Member{Name: "n1", ProxyAddr: "h:1", StateAddr: "h:2"}) {
		t.Fatalf("member: %+v, %v", r, err)
	}
	r, err = parseRecord("c", []byte(p+"claims/n1/"+id), []byte(`{"job":"`+job+`","name":"s","maxParallelism":128,"keyGroups":"0-42"}`), 7)
	if err != nil || r.claim == nil || r.claim.KeyGroups != kgr(0, 42) || r.claim.Revision != 7 || r.claim.Node != "n1" || r.claim.ID.String() != id {
		t.Fatalf("claim: %+v, %v", r, err)
	}
	// Round trip through the encoders.
	enc := encodeClaim(*r.claim)
	if r2, err := parseRecord("c", []byte(p+"claims/n1/"+id), []byte(enc), 7); err != nil || *r2.claim != *r.claim {
		t.Errorf("round trip of %s: %+v, %v", enc, r2, err)
	}
	bad := []struct{ key, value string }{
		{p + "members/n1", `{"proxy":"h:1"}`},
		{p + "members/n1", `{"proxy":"h:1","state":"h:2","x":1}`},
		{p + "members/bad name", `{"proxy":"h:1","state":"h:2"}`},
		{p + "members/n1", `not json`},
		{p + "members/n1", `{"proxy":"h:1","state":"` + strings.Repeat("x", maxValueSize) + `"}`},
		{p + "claims/n1/zz", `{"job":"` + job + `","name":"s","maxParallelism":128,"keyGroups":"0-42"}`},
		{p + "claims/n1/" + id, `{"job":"nope","name":"s","maxParallelism":128,"keyGroups":"0-42"}`},
		{p + "claims/n1/" + id, `{"job":"` + job + `","name":"","maxParallelism":128,"keyGroups":"0-42"}`},
		{p + "claims/n1/" + id, `{"job":"` + job + `","name":"s","maxParallelism":0,"keyGroups":"0-0"}`},
		{p + "claims/n1/" + id, `{"job":"` + job + `","name":"s","maxParallelism":40000,"keyGroups":"0-42"}`},
		{p + "claims/n1/" + id, `{"job":"` + job + `","name":"s","maxParallelism":128,"keyGroups":"0-128"}`},
		{p + "claims/n1/" + id, `{"job":"` + job + `","name":"s","maxParallelism":128,"keyGroups":"5-2"}`},
		{p + "claims/n1/" + id, `{"job":"` + job + `","name":"s","maxParallelism":128,"keyGroups":"0-1,3-4"}`},
	}
	for _, b := range bad {
		if _, err := parseRecord("c", []byte(b.key), []byte(b.value), 1); err == nil || errors.Is(err, errNotOurs) {
			t.Errorf("%s = %.60s: accepted (or not ours): %v", b.key, b.value, err)
		}
	}
	for _, k := range []string{"/qstate/other/members/n1", p + "future/x", p + "claims/n1"} {
		if _, err := parseRecord("c", []byte(k), []byte(`{}`), 1); !errors.Is(err, errNotOurs) {
			t.Errorf("%s: %v, want errNotOurs", k, err)
		}
	}
}

// FuzzParseRecord: no key or value makes parseRecord panic, and what it
// accepts is within bounds (E3).
func FuzzParseRecord(f *testing.F) {
	f.Add("claims/n1/0123456789abcdef0123456789abcdef", `{"job":"00112233445566778899aabbccddeeff","name":"s","maxParallelism":128,"keyGroups":"0-42"}`)
	f.Add("members/n1", `{"proxy":"h:1","state":"h:2"}`)
	f.Fuzz(func(t *testing.T, key, value string) {
		r, err := parseRecord("c", []byte(Prefix("c")+key), []byte(value), 1)
		if err != nil || r.claim == nil {
			return
		}
		c := r.claim
		if c.MaxParallelism < 1 || c.MaxParallelism > registry.MaxParallelismUpperBound || c.KeyGroups.Start < 0 ||
			c.KeyGroups.End < c.KeyGroups.Start || c.KeyGroups.End >= c.MaxParallelism || c.Name == "" {
			t.Fatalf("accepted an out-of-bounds claim %+v", c)
		}
	})
}

// TestParseKeyGroups: lists of ranges, in order, no overlap.
func TestParseKeyGroups(t *testing.T) {
	got, err := ParseKeyGroups("64-70, 0-42,99")
	if err != nil || !slices.Equal(got, []registry.KeyGroupRange{kgr(0, 42), kgr(64, 70), kgr(99, 99)}) {
		t.Errorf("got %v, %v", got, err)
	}
	for _, s := range []string{"", "a-b", "5-2", "-1", "0-10,10-12", "1,,2"} {
		if _, err := ParseKeyGroups(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

// TestConfigValidate: every problem is reported, each wrapping ErrConfig.
func TestConfigValidate(t *testing.T) {
	err := Config{Cluster: "a/b", Node: "", ProxyAddr: "0.0.0.0:1", StateAddr: "nope", TTL: 10}.Validate()
	for _, want := range []string{"no etcd endpoints", "cluster name", "node name", "ProxyAddr", "StateAddr", "Registry is nil", "TTL"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate lacks %q: %v", want, err)
		}
	}
	if !errors.Is(err, ErrConfig) {
		t.Errorf("%v does not wrap ErrConfig", err)
	}
	ok := Config{Endpoints: []string{"http://127.0.0.1:1"}, Node: "n", ProxyAddr: "127.0.0.1:1", StateAddr: "127.0.0.1:2", Registry: registry.New()}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

// TestOwnerDoesNotAllocate: the Directory look-up a forwarder's retry
// makes costs no allocation.
func TestOwnerDoesNotAllocate(t *testing.T) {
	members := map[string]Member{"a": {Name: "a", ProxyAddr: "h:1", StateAddr: "h:2"}}
	v := buildView(1, members, map[string]claimRecord{"1": claim("a", 1, kgr(0, 127), 128, 1)})
	name := "s"
	if n := testing.AllocsPerRun(1000, func() {
		if _, err := v.Owner(registry.JobID{1}, name, 12345); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Owner allocates %.1f times per call", n)
	}
}
