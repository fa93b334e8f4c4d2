package cluster

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/qstate/qstate/registry"
)

const testJob = "00112233445566778899aabbccddeeff"

// validFile is a three-node description every error case below breaks in
// one place.
const validFile = `{
  "format": 1,
  "nodes": [
    {"name": "a", "proxy": "127.0.0.1:9069", "state": "127.0.0.1:9067"},
    {"name": "b", "proxy": "127.0.0.1:9169", "state": "127.0.0.1:9167"},
    {"name": "c", "proxy": "localhost:9269", "state": "[::1]:9267"}
  ],
  "states": [
    {"job": "00112233445566778899aabbccddeeff", "name": "state", "maxParallelism": 128,
     "ranges": [
       {"node": "a", "keyGroups": "0-42"},
       {"node": "b", "keyGroups": "43-85", "kvStateId": "0123456789ABCDEF0123456789abcdef"},
       {"node": "c", "keyGroups": "86-127"}
     ]},
    {"job": "00112233445566778899aabbccddeeff", "name": "other", "maxParallelism": 4,
     "ranges": [
       {"node": "c", "keyGroups": "0"},
       {"node": "a", "keyGroups": " 2 - 3 "}
     ]}
  ]
}`

func TestParseValid(t *testing.T) {
	c, err := Parse([]byte(validFile))
	if err != nil {
		t.Fatal(err)
	}
	job, _ := registry.ParseJobID(testJob)
	wantB, _ := registry.ParseKvStateID("0123456789abcdef0123456789abcdef")
	want := &Cluster{
		Nodes: []Node{
			{"a", "127.0.0.1:9069", "127.0.0.1:9067"},
			{"b", "127.0.0.1:9169", "127.0.0.1:9167"},
			{"c", "localhost:9269", "[::1]:9267"},
		},
		States: []State{
			{Job: job, Name: "state", MaxParallelism: 128, Ranges: []Range{
				{Node: "a", KeyGroups: registry.KeyGroupRange{Start: 0, End: 42}},
				{Node: "b", KeyGroups: registry.KeyGroupRange{Start: 43, End: 85}, ID: wantB},
				{Node: "c", KeyGroups: registry.KeyGroupRange{Start: 86, End: 127}},
			}},
			{Job: job, Name: "other", MaxParallelism: 4, Ranges: []Range{
				{Node: "c", KeyGroups: registry.KeyGroupRange{Start: 0, End: 0}},
				{Node: "a", KeyGroups: registry.KeyGroupRange{Start: 2, End: 3}},
			}},
		},
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("Parse:\n got %+v\nwant %+v", c, want)
	}
	s, ok := c.State(job, "state")
	if !ok {
		t.Fatal("State(job, state) not found")
	}
	if got := s.RangeID(s.Ranges[1]); got != wantB {
		t.Errorf("named ID: %s, want %s", got, wantB)
	}
	if got, want := s.RangeID(s.Ranges[0]), DeriveKvStateID(job, "state", 128, s.Ranges[0].KeyGroups, "a"); got != want {
		t.Errorf("derived ID: %s, want %s", got, want)
	}
	if u := s.Uncovered(); u != nil {
		t.Errorf("Uncovered = %v, want none", u)
	}
	o, _ := c.State(job, "other")
	if u, want := o.Uncovered(), []registry.KeyGroupRange{{Start: 1, End: 1}}; !reflect.DeepEqual(u, want) {
		t.Errorf("Uncovered = %v, want %v", u, want)
	}
	if n, ok := c.Node("b"); !ok || n.StateAddr != "127.0.0.1:9167" {
		t.Errorf("Node(b) = %+v, %v", n, ok)
	}
	if _, ok := c.Node("z"); ok {
		t.Error("Node(z) found")
	}

	// Encode writes what Parse reads back to an equal Cluster.
	var buf bytes.Buffer
	if err := c.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	c2, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatalf("Parse(Encode): %v\n%s", err, buf.Bytes())
	}
	if !reflect.DeepEqual(c2, c) {
		t.Errorf("round trip:\n got %+v\nwant %+v", c2, c)
	}
}

// TestParseErrors: each case breaks validFile in one place; the error must
// wrap ErrInvalid and name the field (K1).
func TestParseErrors(t *testing.T) {
	cases := []struct {
		name      string
		old, new  string // replace old by new in validFile (old must occur)
		field     string // the FieldError's field
		problemIn string // a piece of its problem text
	}{
		{"overlapping ranges", `"keyGroups": "43-85"`, `"keyGroups": "40-85"`, "states[0].ranges[1].keyGroups", "overlaps ranges[0]"},
		{"range inside another", `"keyGroups": "86-127"`, `"keyGroups": "0-127"`, "states[0].ranges[2].keyGroups", "overlaps ranges[0]"},
		{"unknown node", `{"node": "c", "keyGroups": "86-127"}`, `{"node": "d", "keyGroups": "86-127"}`, "states[0].ranges[2].node", `unknown node "d"`},
		{"range beyond maxP", `"keyGroups": "86-127"`, `"keyGroups": "86-128"`, "states[0].ranges[2].keyGroups", "within [0, 127]"},
		{"range beyond small maxP", `"keyGroups": " 2 - 3 "`, `"keyGroups": "2-4"`, "states[1].ranges[1].keyGroups", "within [0, 3]"},
		{"reversed range", `"keyGroups": "0-42"`, `"keyGroups": "42-0"`, "states[0].ranges[0].keyGroups", "is not a range"},
		{"negative key group", `"keyGroups": "0-42"`, `"keyGroups": "-1-42"`, "states[0].ranges[0].keyGroups", "not a key-group range"},
		{"key groups not numbers", `"keyGroups": "0-42"`, `"keyGroups": "zero-42"`, "states[0].ranges[0].keyGroups", "not a key-group range"},
		{"key groups empty", `"keyGroups": "0-42"`, `"keyGroups": ""`, "states[0].ranges[0].keyGroups", "not a key-group range"},
		{"maxP zero", `"maxParallelism": 128`, `"maxParallelism": 0`, "states[0].maxParallelism", "not in [1, 32768]"},
		{"maxP too large", `"maxParallelism": 128`, `"maxParallelism": 32769`, "states[0].maxParallelism", "not in [1, 32768]"},
		{"maxP not a number", `"maxParallelism": 128`, `"maxParallelism": "128"`, "states.maxParallelism", "want a JSON int"},
		{"bad job", `"job": "00112233445566778899aabbccddeeff", "name": "state"`, `"job": "0011", "name": "state"`, "states[0].job", "not a JobID"},
		{"empty state name", `"name": "other"`, `"name": ""`, "states[1].name", "empty state name"},
		{"duplicate state", `"name": "other"`, `"name": "state"`, "states[1]", "is also states[0]"},
		{"no ranges", `"ranges": [
       {"node": "c", "keyGroups": "0"},
       {"node": "a", "keyGroups": " 2 - 3 "}
     ]`, `"ranges": []`, "states[1].ranges", "no ranges"},
		{"bad kvStateId", `"kvStateId": "0123456789ABCDEF0123456789abcdef"`, `"kvStateId": "xyz"`, "states[0].ranges[1].kvStateId", "not a KvStateID"},
		{"zero kvStateId", `"kvStateId": "0123456789ABCDEF0123456789abcdef"`, `"kvStateId": "00000000000000000000000000000000"`, "states[0].ranges[1].kvStateId", "reserved"},
		{"duplicate kvStateId", `{"node": "c", "keyGroups": "0"}`, `{"node": "c", "keyGroups": "0", "kvStateId": "0123456789abcdef0123456789abcdef"}`, "states[1].ranges[0].kvStateId", "is also states[0].ranges[1]"},
		{"address without port", `"state": "127.0.0.1:9167"`, `"state": "127.0.0.1"`, "nodes[1].state", "not host:port"},
		{"port out of range", `"state": "127.0.0.1:9167"`, `"state": "127.0.0.1:70000"`, "nodes[1].state", "not a number in [1, 65535]"},
		{"port zero", `"proxy": "127.0.0.1:9169"`, `"proxy": "127.0.0.1:0"`, "nodes[1].proxy", "not a number in [1, 65535]"},
		{"named port", `"proxy": "127.0.0.1:9169"`, `"proxy": "127.0.0.1:http"`, "nodes[1].proxy", "not a number"},
		{"no host", `"proxy": "127.0.0.1:9169"`, `"proxy": ":9169"`, "nodes[1].proxy", "no host"},
		{"wildcard host", `"proxy": "127.0.0.1:9169"`, `"proxy": "0.0.0.0:9169"`, "nodes[1].proxy", "wildcard"},
		{"empty address", `"proxy": "127.0.0.1:9169"`, `"proxy": ""`, "nodes[1].proxy", "empty address"},
		{"same address twice in a node", `"state": "127.0.0.1:9167"`, `"state": "127.0.0.1:9169"`, "nodes[1].state", "is also nodes[1].proxy"},
		{"address of another node", `"state": "127.0.0.1:9167"`, `"state": "127.0.0.1:9067"`, "nodes[1].state", "is also nodes[0].state"},
		{"duplicate node", `{"name": "b"`, `{"name": "a"`, "nodes[1].name", `is also nodes[0]'s`},
		{"empty node name", `{"name": "b"`, `{"name": ""`, "nodes[1].name", "empty node name"},
		{"bad node name", `{"name": "b"`, `{"name": "b c"`, "nodes[1].name", "characters other than"},
		{"unknown top-level field", `"nodes": [`, `"x": 1, "nodes": [`, "", `unknown field "x"`},
		{"unknown field", `"maxParallelism": 4,`, `"maxParallelism": 4, "parallelism": 2,`, "", `unknown field "parallelism"`},
		{"format", `"format": 1`, `"format": 2`, "format", "not supported"},
		{"syntax error", `"states": [`, `"states": [,`, "", "line 8, column"},
		{"trailing data", validFile, validFile + "{}", "", "after the JSON object"},
		{"empty", validFile, "", "", "empty file"},
		{"truncated", validFile, validFile[:100], "", "truncated"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(validFile, tc.old) {
				t.Fatalf("test bug: %q not in validFile", tc.old)
			}
			in := strings.Replace(validFile, tc.old, tc.new, 1)
			c, err := Parse([]byte(in))
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", c)
			}
			expectFieldError(t, err, tc.field, tc.problemIn)
		})
	}
}

// expectFieldError checks that err wraps ErrInvalid and holds a FieldError
// for field whose problem contains problemIn.
func expectFieldError(t *testing.T, err error, field, problemIn string) {
	t.Helper()
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("error %v does not wrap ErrInvalid", err)
	}
	for _, e := range flatten(err) {
		var fe *FieldError
		if errors.As(e, &fe) && fe.Field == field && strings.Contains(fe.Problem, problemIn) {
			return
		}
	}
	t.Errorf("error %q has no problem %q for field %q", err, problemIn, field)
}

// flatten returns the errors an errors.Join holds (err itself otherwise).
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := &Cluster{
		Nodes: []Node{{Name: "a", ProxyAddr: "x", StateAddr: "127.0.0.1:1"}, {Name: "a", ProxyAddr: "127.0.0.1:2", StateAddr: "127.0.0.1:1"}},
		States: []State{{Name: "s", MaxParallelism: 8, Ranges: []Range{
			{Node: "a", KeyGroups: registry.KeyGroupRange{Start: 0, End: 8}},
			{Node: "q", KeyGroups: registry.KeyGroupRange{Start: 3, End: 4}},
		}}},
	}
	err := c.Validate()
	for _, want := range []struct{ field, problem string }{
		{"nodes[0].proxy", "not host:port"},
		{"nodes[1].name", "is also nodes[0]'s"},
		{"nodes[1].state", "is also nodes[0].state"},
		{"states[0].ranges[0].keyGroups", "within [0, 7]"},
		{"states[0].ranges[1].node", `unknown node "q"`},
		{"states[0].ranges[1].keyGroups", "overlaps ranges[0]"},
	} {
		expectFieldError(t, err, want.field, want.problem)
	}
	if n := len(flatten(err)); n != 6 {
		t.Errorf("%d problems, want 6: %v", n, err)
	}
	if err := (&Cluster{}).Validate(); err == nil {
		t.Error("empty cluster is valid")
	} else {
		expectFieldError(t, err, "nodes", "no nodes")
		expectFieldError(t, err, "states", "no states")
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cluster.json")
	if err := os.WriteFile(path, []byte(validFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, bytes.Repeat([]byte(" "), MaxFileSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(big)
	expectFieldError(t, err, "", "larger than")
	if !strings.Contains(err.Error(), big) {
		t.Errorf("error %q does not name the file", err)
	}
}

// TestExampleCluster parses the example committed for the README.
func TestExampleCluster(t *testing.T) {
	c, err := Load("../examples/cluster/cluster.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Nodes) != 3 {
		t.Errorf("%d nodes, want 3", len(c.Nodes))
	}
	for i := range c.States {
		if u := c.States[i].Uncovered(); u != nil {
			t.Errorf("state %q: key groups %v have no owner", c.States[i].Name, u)
		}
	}
}

// TestDeriveKvStateID pins the documented preimage layout (K2): the ID is
// SHA-256 of the bytes written out by hand here, cut to 16 bytes; every
// input changes it.
func TestDeriveKvStateID(t *testing.T) {
	job, _ := registry.ParseJobID(testJob)
	kgr := registry.KeyGroupRange{Start: 43, End: 85}
	got := DeriveKvStateID(job, "state", 128, kgr, "b")
	// "qstate/cluster/kvstate-id/v1" 00, job, u32 5 "state", u32 128, u32 43, u32 85, u32 1 "b".
	pre := "qstate/cluster/kvstate-id/v1\x00" +
		"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff" +
		"\x00\x00\x00\x05state" + "\x00\x00\x00\x80" + "\x00\x00\x00\x2b" + "\x00\x00\x00\x55" + "\x00\x00\x00\x01b"
	if want := sha256Prefix(pre); got != want {
		t.Errorf("DeriveKvStateID = %s, want %s", got, want)
	}
	seen := map[registry.KvStateID]string{got: "base"}
	for name, id := range map[string]registry.KvStateID{
		"job":   DeriveKvStateID(registry.JobID{1}, "state", 128, kgr, "b"),
		"name":  DeriveKvStateID(job, "statf", 128, kgr, "b"),
		"maxP":  DeriveKvStateID(job, "state", 256, kgr, "b"),
		"start": DeriveKvStateID(job, "state", 128, registry.KeyGroupRange{Start: 42, End: 85}, "b"),
		"end":   DeriveKvStateID(job, "state", 128, registry.KeyGroupRange{Start: 43, End: 86}, "b"),
		"node":  DeriveKvStateID(job, "state", 128, kgr, "c"),
		// Lengths are in the preimage: moving a byte from name to node changes the ID.
		"split": DeriveKvStateID(job, "stat", 128, kgr, "eb"),
	} {
		if other, dup := seen[id]; dup {
			t.Errorf("changing %s gives the ID of %s", name, other)
		}
		seen[id] = name
	}
	if again := DeriveKvStateID(job, "state", 128, kgr, "b"); again != got {
		t.Error("DeriveKvStateID is not deterministic")
	}
}
