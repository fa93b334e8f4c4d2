package dataset

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/internal/vectors"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/state"
)

// lookup answers a KvStateRequest body from r as the proxy path does.
func lookup(t *testing.T, r *registry.Registry, body []byte) (content []byte, found bool) {
	t.Helper()
	req, err := codec.DecodeKvStateRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	loc, ok := r.Location(registry.JobID(req.JobID), req.StateName)
	if !ok {
		return nil, false
	}
	o, ok := loc.Owner(loc.KeyGroup(req.KeyHash))
	if !ok || !o.Local() {
		t.Fatalf("no local owner for hash %d", req.KeyHash)
	}
	s, ok := r.KvState(o.ID)
	if !ok {
		t.Fatal("owner's KvState missing")
	}
	v, found, err := s.Get(req.KeyAndNamespace)
	if err != nil {
		return nil, false
	}
	return v, found
}

// TestSyntheticMatchesGolden replays the golden exchanges against the
// synthetic dataset registered as the generator did (NKEYS=1000,
// VALUE_SIZE=8): present keys give Flink's content, missing keys none (D1).
func TestSyntheticMatchesGolden(t *testing.T) {
	r := registry.New()
	if err := RegisterSynthetic(r, 1000, 8); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, r)
}

// checkGolden replays the golden exchanges against the synthetic state
// registered in r.
func checkGolden(t *testing.T, r *registry.Registry) {
	t.Helper()
	vs, err := vectors.Kind("exchange")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, v := range vs {
		frame := v.Hex("request_frame_hex")
		f, n, err := codec.DecodeFrame(frame, 0)
		if err != nil || n != len(frame) || f.Type != codec.Request {
			continue // the broken-stream exchanges
		}
		req, err := codec.DecodeKvStateRequest(f.Body)
		if err != nil || hex.EncodeToString(req.JobID[:]) != SyntheticJobID || string(req.StateName) != SyntheticState {
			continue
		}
		content, found := lookup(t, r, f.Body)
		switch v.Str("response_type") {
		case "REQUEST_RESULT":
			if want := v.Hex("content_hex"); !found || !bytes.Equal(content, want) {
				t.Errorf("%s: content %x, want %x", v.Name, content, want)
			}
			checked++
		case "REQUEST_FAILURE":
			if v.Str("exception_class") == "org.apache.flink.queryablestate.exceptions.UnknownKeyOrNamespaceException" {
				if found {
					t.Errorf("%s: found %x for a missing key", v.Name, content)
				}
				checked++
			}
		}
	}
	if checked < 6 {
		t.Fatalf("only %d exchanges checked", checked)
	}
}

func TestSyntheticValue(t *testing.T) {
	got := SyntheticValue([]byte{9}, 999, 8)
	want := []byte{9, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff, 0x00}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x want %x", got, want)
	}
	r := registry.New()
	if err := RegisterSynthetic(r, 3, 300); err != nil {
		t.Fatal(err)
	}
	id, ok := SyntheticKvStateID(r)
	if !ok {
		t.Fatal("no KvStateID")
	}
	s, _ := r.KvState(id)
	kn := state.AppendKeyAndNamespace(nil, state.Int, int32(2), state.Void, state.VoidNamespace{})
	v, found, err := s.Get(kn)
	if err != nil || !found || !bytes.Equal(v, state.Bytes.Append(nil, SyntheticValue(nil, 2, 300))) {
		t.Fatalf("key 2: %x %v %v", v, found, err)
	}
	for _, bad := range [][2]int{{-1, 8}, {10, -1}} {
		if err := RegisterSynthetic(registry.New(), bad[0], bad[1]); err == nil {
			t.Errorf("RegisterSynthetic(%d, %d) accepted", bad[0], bad[1])
		}
	}
	if err := RegisterSynthetic(r, 3, 8); !errors.Is(err, registry.ErrNameClash) {
		t.Errorf("second registration: %v, want ErrNameClash", err)
	}
}

// TestSyntheticValues: the checker a load harness uses agrees with
// SyntheticValue for every key residue and rejects any other value.
func TestSyntheticValues(t *testing.T) {
	for _, size := range []int{0, 1, 8, 300} {
		v := NewSyntheticValues(size)
		for key := range 600 {
			want := SyntheticValue(nil, key, size)
			if !bytes.Equal(v.Value(key), want) || !v.Equal(key, want) {
				t.Fatalf("size %d key %d: Value %x, want %x", size, key, v.Value(key), want)
			}
			if size > 0 && (v.Equal(key+1, want) || v.Equal(key, want[:size-1])) {
				t.Fatalf("size %d key %d: a wrong value passed", size, key)
			}
		}
	}
}

// TestSyntheticPart: the parts of three operators' key-group ranges hold
// every key exactly once, each in the part whose ranges hold its key
// group, with RegisterSynthetic's value.
func TestSyntheticPart(t *testing.T) {
	const keys, size, maxP = 500, 8, 128
	var parts []*state.ValueState[int32, state.VoidNamespace, []byte]
	var ranges []registry.KeyGroupRange
	for i := range 3 {
		kgr := registry.KeyGroupRangeFor(maxP, 3, i)
		p, err := SyntheticPart(keys, size, maxP, kgr)
		if err != nil {
			t.Fatal(err)
		}
		parts, ranges = append(parts, p), append(ranges, kgr)
	}
	total := 0
	for i, p := range parts {
		total += p.Len()
		if p.Len() == 0 {
			t.Errorf("part %d is empty", i)
		}
	}
	if total != keys {
		t.Errorf("parts hold %d keys, want %d", total, keys)
	}
	for k := range int32(keys) {
		kg := registry.KeyGroupForHash(k, maxP) // an Integer's hashCode is its value
		for i, p := range parts {
			kn := state.AppendKeyAndNamespace(nil, state.Int, k, state.Void, state.VoidNamespace{})
			v, found, err := p.Get(kn)
			if want := ranges[i].Contains(kg); found != want || err != nil {
				t.Fatalf("key %d (key group %d) in part %d (%v): found %v, %v", k, kg, i, ranges[i], found, err)
			}
			if found && !bytes.Equal(v, state.Bytes.Append(nil, SyntheticValue(nil, int(k), size))) {
				t.Fatalf("key %d: %x", k, v)
			}
		}
	}
	// Several ranges: their union.
	both, err := SyntheticPart(keys, size, maxP, ranges[0], ranges[2])
	if err != nil || both.Len() != parts[0].Len()+parts[2].Len() {
		t.Errorf("two ranges: %d keys, %v; want %d", both.Len(), err, parts[0].Len()+parts[2].Len())
	}
	for _, bad := range [][3]int{{-1, 8, 128}, {10, -1, 128}, {10, 8, 0}, {10, 8, registry.MaxParallelismUpperBound + 1}} {
		if _, err := SyntheticPart(bad[0], bad[1], bad[2], ranges[0]); err == nil {
			t.Errorf("SyntheticPart(%v) accepted", bad)
		}
	}
}

// TestDemoStates: every example key answers at once and decodes with the
// serializers its description names (D2); Step changes the states; Run
// returns when its context ends.
func TestDemoStates(t *testing.T) {
	r := registry.New()
	d, err := NewDemo(r)
	if err != nil {
		t.Fatal(err)
	}
	get := func(name, key string) []byte {
		t.Helper()
		id, ok := DemoKvStateID(r, name)
		if !ok {
			t.Fatalf("%s not registered", name)
		}
		s, _ := r.KvState(id)
		kn := state.AppendKeyAndNamespace(nil, state.String, key, state.Void, state.VoidNamespace{})
		v, found, err := s.Get(kn)
		if err != nil || !found {
			t.Fatalf("%s[%s]: found %v err %v", name, key, found, err)
		}
		return v
	}
	for _, info := range DemoStates() {
		for _, k := range info.ExampleKeys {
			v := get(info.Name, k)
			switch info.Kind {
			case "value":
				if n, rest, err := state.Long.Read(v); err != nil || len(rest) != 0 || n < 1 {
					t.Errorf("%s[%s] = %d %v", info.Name, k, n, err)
				}
			case "list":
				if l, err := state.ReadList(state.String, v); err != nil || len(l) == 0 {
					t.Errorf("%s[%s] = %v %v", info.Name, k, l, err)
				}
			case "map":
				if m, err := state.ReadMap(state.String, state.String, v); err != nil || m["city"] == nil {
					t.Errorf("%s[%s] = %v %v", info.Name, k, m, err)
				}
			}
		}
	}
	total := func() int64 {
		var n int64
		for _, w := range DemoWords {
			c, _ := d.Count(w)
			n += c
		}
		return n
	}
	before := total()
	var wg sync.WaitGroup
	wg.Go(func() { // queries while the task updates
		for range 200 {
			get(DemoRecentEvents, DemoUsers[0])
			get(DemoWordCounts, DemoWords[0])
		}
	})
	for range 50 {
		d.Step()
	}
	wg.Wait()
	if after := total(); after != before+50 {
		t.Fatalf("counts went from %d to %d after 50 steps", before, after)
	}
	for _, u := range DemoUsers {
		id, _ := DemoKvStateID(r, DemoRecentEvents)
		s, _ := r.KvState(id)
		v, _, _ := s.Get(state.AppendKeyAndNamespace(nil, state.String, u, state.Void, state.VoidNamespace{}))
		if l, _ := state.ReadList(state.String, v); len(l) > DemoRecentMax {
			t.Errorf("%s has %d recent events", u, len(l))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- d.Run(ctx, time.Millisecond) }()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
}
