package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/qstate/qstate/registry"
)

// MaxFileSize bounds a cluster description file (1 MiB): far above any
// real cluster (a range is ~80 bytes), small enough that a wrong path
// (a log, a binary) is refused before it is read whole.
const MaxFileSize = 1 << 20

// Format is the version of the file format this package reads and writes.
const Format = 1

// maxNodeName bounds a node name (it appears in logs and error messages).
const maxNodeName = 64

// Cluster is a parsed, valid cluster description: the nodes, and for each
// queryable state the key-group ranges each node holds. Parse and Load
// return only valid ones; a Cluster built in code is checked by Validate
// (Apply and NewStatic call it).
type Cluster struct {
	Nodes  []Node
	States []State
}

// Node is one qstate node: its name and the two addresses its peers and
// clients dial (both "host:port", the host not a wildcard).
type Node struct {
	Name      string
	ProxyAddr string // proxy port (KvStateRequest), what clients query
	StateAddr string // state-server port (KvStateInternalRequest), what peers forward to
}

// State is one queryable state (job, name) of MaxParallelism key groups and
// the ranges of its key groups that nodes hold. Key groups no range covers
// have no owner (Flink's UnknownKvStateKeyGroupLocationException).
type State struct {
	Job            registry.JobID
	Name           string
	MaxParallelism int // number of key groups: the operator's max parallelism, not its parallelism
	Ranges         []Range
}

// Range is a key-group range of a State held by the node Node.
type Range struct {
	Node      string
	KeyGroups registry.KeyGroupRange
	// ID is the KvStateID of the range when the file names one; zero means
	// the ID is derived (State.RangeID, DeriveKvStateID).
	ID registry.KvStateID
}

// RangeID is the KvStateID of r in s: r.ID when set, otherwise
// DeriveKvStateID(s.Job, s.Name, s.MaxParallelism, r.KeyGroups, r.Node).
// Every node computes the same ID from the same description.
func (s *State) RangeID(r Range) registry.KvStateID {
	if r.ID != (registry.KvStateID{}) {
		return r.ID
	}
	return DeriveKvStateID(s.Job, s.Name, s.MaxParallelism, r.KeyGroups, r.Node)
}

// Uncovered returns the key-group ranges of s that no range covers, in
// order (nil when every key group has an owner). s must be valid.
func (s *State) Uncovered() []registry.KeyGroupRange {
	rs := slices.Clone(s.Ranges)
	slices.SortFunc(rs, func(a, b Range) int { return a.KeyGroups.Start - b.KeyGroups.Start })
	var out []registry.KeyGroupRange
	next := 0
	for _, r := range rs {
		if r.KeyGroups.Start > next {
			out = append(out, registry.KeyGroupRange{Start: next, End: r.KeyGroups.Start - 1})
		}
		next = max(next, r.KeyGroups.End+1)
	}
	if next < s.MaxParallelism {
		out = append(out, registry.KeyGroupRange{Start: next, End: s.MaxParallelism - 1})
	}
	return out
}

// Node returns the node called name.
func (c *Cluster) Node(name string) (Node, bool) {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return Node{}, false
}

// State returns the state name of job.
func (c *Cluster) State(job registry.JobID, name string) (*State, bool) {
	for i := range c.States {
		if s := &c.States[i]; s.Job == job && s.Name == name {
			return s, true
		}
	}
	return nil, false
}

// The file: JSON, with these names. Unknown fields are errors (a typo must
// not silently drop a range).
type fileJSON struct {
	Format int         `json:"format,omitempty"`
	Nodes  []nodeJSON  `json:"nodes"`
	States []stateJSON `json:"states"`
}

type nodeJSON struct {
	Name  string `json:"name"`
	Proxy string `json:"proxy"`
	State string `json:"state"`
}

type stateJSON struct {
	Job            string      `json:"job"`
	Name           string      `json:"name"`
	MaxParallelism int         `json:"maxParallelism"`
	Ranges         []rangeJSON `json:"ranges"`
}

type rangeJSON struct {
	Node      string `json:"node"`
	KeyGroups string `json:"keyGroups"`
	KvStateID string `json:"kvStateId,omitempty"`
}

// Load reads and parses the cluster description at path (see Parse).
func Load(path string) (*Cluster, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("cluster: read %s: %w", path, err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse parses a cluster description (JSON, see the package doc) and
// validates it. Every problem found is reported, each as a *FieldError
// naming its field, joined in one error that wraps ErrInvalid.
func Parse(data []byte) (*Cluster, error) {
	if len(data) > MaxFileSize {
		return nil, &FieldError{Problem: fmt.Sprintf("file larger than %d bytes", MaxFileSize)}
	}
	var f fileJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, jsonError(data, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &FieldError{Problem: "unexpected data after the JSON object"}
	}
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	if f.Format != 0 && f.Format != Format {
		bad("format", "format %d is not supported (want %d)", f.Format, Format)
	}
	c := &Cluster{Nodes: make([]Node, len(f.Nodes)), States: make([]State, len(f.States))}
	for i, n := range f.Nodes {
		c.Nodes[i] = Node{Name: n.Name, ProxyAddr: n.Proxy, StateAddr: n.State}
	}
	for i, s := range f.States {
		p := field("states", i)
		st := State{Name: s.Name, MaxParallelism: s.MaxParallelism, Ranges: make([]Range, len(s.Ranges))}
		var err error
		if st.Job, err = registry.ParseJobID(s.Job); err != nil {
			bad(p+".job", "%q is not a JobID (32 hex digits)", s.Job)
		}
		for j, r := range s.Ranges {
			q := p + "." + field("ranges", j)
			st.Ranges[j].Node = r.Node
			if kgr, ok := registry.ParseKeyGroupRange(r.KeyGroups); ok {
				st.Ranges[j].KeyGroups = kgr
			} else {
				bad(q+".keyGroups", "%q is not a key-group range (want \"start-end\", both inclusive, or one key group)", r.KeyGroups)
			}
			if r.KvStateID != "" {
				if st.Ranges[j].ID, err = registry.ParseKvStateID(r.KvStateID); err != nil {
					bad(q+".kvStateId", "%q is not a KvStateID (32 hex digits)", r.KvStateID)
				} else if st.Ranges[j].ID == (registry.KvStateID{}) {
					bad(q+".kvStateId", "the all-zero KvStateID is reserved (omit kvStateId to derive one)")
				}
			}
		}
		c.States[i] = st
	}
	if len(errs) > 0 {
		// Fields that did not parse would only repeat as validation errors.
		return nil, errors.Join(errs...)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// jsonError turns a decoding error into a FieldError with the position
// (line:column) or field it concerns.
func jsonError(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := position(data, syn.Offset)
		return &FieldError{Problem: fmt.Sprintf("line %d, column %d: %v", line, col, syn)}
	case errors.As(err, &typ):
		return &FieldError{Field: typ.Field, Problem: fmt.Sprintf("want a JSON %s, not %s", typ.Type, typ.Value)}
	case errors.Is(err, io.EOF):
		return &FieldError{Problem: "empty file (want a JSON object with nodes and states)"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &FieldError{Problem: "truncated JSON"}
	}
	// An unknown field: "json: unknown field \"x\"".
	return &FieldError{Problem: strings.TrimPrefix(err.Error(), "json: ")}
}

// position converts a byte offset into a 1-based line and column.
func position(data []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line = 1 + bytes.Count(before, []byte("\n"))
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// Validate reports every problem of c in one error (errors.Join of
// *FieldErrors, each wrapping ErrInvalid): nodes need a unique name and
// two distinct, dialable host:port addresses no other node uses; states
// need a unique (job, name), a max parallelism in [1, 32768] and at least
// one range; a range needs a listed node and key groups within [0, max
// parallelism) that overlap no other range of its state; KvStateIDs, named
// or derived, must be unique.
func (c *Cluster) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	if len(c.Nodes) == 0 {
		bad("nodes", "no nodes")
	}
	names := make(map[string]int, len(c.Nodes))
	addrs := make(map[string]string, 2*len(c.Nodes)) // address -> field that used it first
	for i, n := range c.Nodes {
		p := field("nodes", i)
		switch {
		case n.Name == "":
			bad(p+".name", "empty node name")
		case len(n.Name) > maxNodeName:
			bad(p+".name", "node name longer than %d bytes", maxNodeName)
		case strings.IndexFunc(n.Name, badNameRune) >= 0:
			bad(p+".name", "node name %q has characters other than letters, digits, '.', '_' and '-'", n.Name)
		default:
			if j, dup := names[n.Name]; dup {
				bad(p+".name", "node name %q is also nodes[%d]'s", n.Name, j)
			} else {
				names[n.Name] = i
			}
		}
		for _, a := range []struct{ field, addr string }{{p + ".proxy", n.ProxyAddr}, {p + ".state", n.StateAddr}} {
			if err := checkAddr(a.addr); err != nil {
				bad(a.field, "%v", err)
				continue
			}
			if first, dup := addrs[a.addr]; dup {
				bad(a.field, "address %s is also %s", a.addr, first)
			} else {
				addrs[a.addr] = a.field
			}
		}
	}
	if len(c.States) == 0 {
		bad("states", "no states")
	}
	type stateKey struct {
		job  registry.JobID
		name string
	}
	states := make(map[stateKey]int, len(c.States))
	ids := make(map[registry.KvStateID]string)
	for i := range c.States {
		s := &c.States[i]
		p := field("states", i)
		if s.Name == "" {
			bad(p+".name", "empty state name")
		}
		k := stateKey{s.Job, s.Name}
		if j, dup := states[k]; dup {
			bad(p, "state %q of job %s is also states[%d]", s.Name, s.Job, j)
		} else {
			states[k] = i
		}
		maxPOK := s.MaxParallelism >= 1 && s.MaxParallelism <= registry.MaxParallelismUpperBound
		if !maxPOK {
			bad(p+".maxParallelism", "%d is not in [1, %d] (the number of key groups; Flink's default is %d)",
				s.MaxParallelism, registry.MaxParallelismUpperBound, registry.DefaultMaxParallelism)
		}
		if len(s.Ranges) == 0 {
			bad(p+".ranges", "no ranges: no node holds the state")
		}
		for j, r := range s.Ranges {
			q := p + "." + field("ranges", j)
			if _, ok := names[r.Node]; !ok {
				bad(q+".node", "unknown node %q (not in nodes)", r.Node)
			}
			kg := r.KeyGroups
			rangeOK := kg.Start >= 0 && kg.Start <= kg.End && (!maxPOK || kg.End < s.MaxParallelism)
			if !rangeOK {
				bad(q+".keyGroups", "%d-%d is not a range within [0, %d] (max parallelism %d)",
					kg.Start, kg.End, s.MaxParallelism-1, s.MaxParallelism)
			} else {
				for l, o := range s.Ranges[:j] {
					if kg.Start <= o.KeyGroups.End && o.KeyGroups.Start <= kg.End {
						bad(q+".keyGroups", "%d-%d overlaps ranges[%d] (%d-%d, node %q)",
							kg.Start, kg.End, l, o.KeyGroups.Start, o.KeyGroups.End, o.Node)
					}
				}
			}
			id := s.RangeID(r)
			if first, dup := ids[id]; dup {
				bad(q+".kvStateId", "KvStateID %s is also %s's", id, first)
			} else {
				ids[id] = q
			}
		}
	}
	return errors.Join(errs...)
}

// badNameRune reports a rune not allowed in a node name.
func badNameRune(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
}

// checkAddr checks that a is "host:port" that a peer can dial: a host that
// is not a wildcard and a numeric port in [1, 65535].
func checkAddr(a string) error {
	if a == "" {
		return errors.New("empty address (want host:port)")
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%q is not host:port", a)
	}
	if host == "" {
		return fmt.Errorf("%q has no host: peers must be able to dial it", a)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return fmt.Errorf("%q is a wildcard address: peers must be able to dial it", a)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a number in [1, 65535]", a, port)
	}
	return nil
}

// Encode writes c as a cluster description file (indented JSON that Parse
// reads back to an equal Cluster). Derived KvStateIDs are left out; IDs set
// in Range.ID are written.
func (c *Cluster) Encode(w io.Writer) error {
	f := fileJSON{Format: Format, Nodes: make([]nodeJSON, len(c.Nodes)), States: make([]stateJSON, len(c.States))}
	for i, n := range c.Nodes {
		f.Nodes[i] = nodeJSON{Name: n.Name, Proxy: n.ProxyAddr, State: n.StateAddr}
	}
	for i, s := range c.States {
		sj := stateJSON{Job: s.Job.String(), Name: s.Name, MaxParallelism: s.MaxParallelism, Ranges: make([]rangeJSON, len(s.Ranges))}
		for j, r := range s.Ranges {
			sj.Ranges[j] = rangeJSON{Node: r.Node, KeyGroups: strconv.Itoa(r.KeyGroups.Start) + "-" + strconv.Itoa(r.KeyGroups.End)}
			if r.ID != (registry.KvStateID{}) {
				sj.Ranges[j].KvStateID = r.ID.String()
			}
		}
		f.States[i] = sj
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(f)
}
