package etcddir

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/qstate/qstate/registry"
)

// The keys of a cluster, all under Prefix(cluster):
//
//	members/<node>          {"proxy": "host:port", "state": "host:port"}
//	claims/<node>/<id>      {"job": "<32 hex>", "name": "...", "maxParallelism": N, "keyGroups": "start-end"}
//
// <id> is the claim's KvStateID (32 hex digits). Every key of a node is
// attached to its lease.
const (
	rootPrefix   = "/qstate/"
	membersDir   = "members/"
	claimsDir    = "claims/"
	maxValueSize = 64 << 10 // a record is ~150 bytes; anything far larger is not ours
	maxStateName = 4096
)

// Prefix returns the prefix of every key of the cluster called name.
func Prefix(name string) string { return rootPrefix + name + "/" }

func memberKey(cluster, node string) string { return Prefix(cluster) + membersDir + node }

func claimPrefix(cluster, node string) string { return Prefix(cluster) + claimsDir + node + "/" }

func claimKey(cluster, node string, id registry.KvStateID) string {
	return claimPrefix(cluster, node) + id.String()
}

type memberJSON struct {
	Proxy string `json:"proxy"`
	State string `json:"state"`
}

type claimJSON struct {
	Job            string `json:"job"`
	Name           string `json:"name"`
	MaxParallelism int    `json:"maxParallelism"`
	KeyGroups      string `json:"keyGroups"`
}

func encodeMember(m Member) string {
	b, _ := json.Marshal(memberJSON{Proxy: m.ProxyAddr, State: m.StateAddr})
	return string(b)
}

func encodeClaim(c claimRecord) string {
	b, _ := json.Marshal(claimJSON{Job: c.Job.String(), Name: c.Name, MaxParallelism: c.MaxParallelism,
		KeyGroups: strconv.Itoa(c.KeyGroups.Start) + "-" + strconv.Itoa(c.KeyGroups.End)})
	return string(b)
}

// record is one parsed key of the cluster: a member or a claim.
type record struct {
	member *Member
	claim  *claimRecord
}

// errNotOurs reports a key under the prefix that is neither a member nor
// a claim (ignored, so that a later version can add kinds).
var errNotOurs = errors.New("etcddir: not a member or claim key")

// parseKey splits a key of the cluster into its kind and parts.
func parseKey(cluster, key string) (kind, node, id string, err error) {
	rest, ok := strings.CutPrefix(key, Prefix(cluster))
	if !ok {
		return "", "", "", errNotOurs
	}
	switch {
	case strings.HasPrefix(rest, membersDir):
		node = rest[len(membersDir):]
		if err := checkName("node", node); err != nil {
			return "", "", "", err
		}
		return "member", node, "", nil
	case strings.HasPrefix(rest, claimsDir):
		node, id, ok = strings.Cut(rest[len(claimsDir):], "/")
		if !ok {
			return "", "", "", errNotOurs
		}
		if err := checkName("node", node); err != nil {
			return "", "", "", err
		}
		return "claim", node, id, nil
	}
	return "", "", "", errNotOurs
}

// parseRecord parses one key and value of the cluster. Everything read from
// etcd is hostile: sizes are bounded, fields checked, unknown fields refused.
func parseRecord(cluster string, key, value []byte, createRev int64) (record, error) {
	kind, node, idHex, err := parseKey(cluster, string(key))
	if err != nil {
		return record{}, err
	}
	if len(value) > maxValueSize {
		return record{}, fmt.Errorf("etcddir: %s: value of %d bytes (at most %d)", key, len(value), maxValueSize)
	}
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.DisallowUnknownFields()
	switch kind {
	case "member":
		var m memberJSON
		if err := dec.Decode(&m); err != nil {
			return record{}, fmt.Errorf("etcddir: %s: %w", key, err)
		}
		if m.Proxy == "" || m.State == "" {
			return record{}, fmt.Errorf("etcddir: %s: a member needs proxy and state addresses", key)
		}
		return record{member: &Member{Name: node, ProxyAddr: m.Proxy, StateAddr: m.State}}, nil
	default:
		var c claimJSON
		if err := dec.Decode(&c); err != nil {
			return record{}, fmt.Errorf("etcddir: %s: %w", key, err)
		}
		r := claimRecord{Name: c.Name}
		r.Node, r.MaxParallelism, r.Revision = node, c.MaxParallelism, createRev
		if r.ID, err = registry.ParseKvStateID(idHex); err != nil {
			return record{}, fmt.Errorf("etcddir: %s: %w", key, err)
		}
		if r.Job, err = registry.ParseJobID(c.Job); err != nil {
			return record{}, fmt.Errorf("etcddir: %s: job: %w", key, err)
		}
		if c.Name == "" || len(c.Name) > maxStateName {
			return record{}, fmt.Errorf("etcddir: %s: state name of %d bytes (want 1 to %d)", key, len(c.Name), maxStateName)
		}
		if c.MaxParallelism < 1 || c.MaxParallelism > registry.MaxParallelismUpperBound {
			return record{}, fmt.Errorf("etcddir: %s: max parallelism %d not in [1, %d]", key, c.MaxParallelism, registry.MaxParallelismUpperBound)
		}
		kgs, err := ParseKeyGroups(c.KeyGroups)
		if err != nil || len(kgs) != 1 || kgs[0].End >= c.MaxParallelism {
			return record{}, fmt.Errorf("etcddir: %s: key groups %q: not one range within [0, %d)", key, c.KeyGroups, c.MaxParallelism)
		}
		r.KeyGroups = kgs[0]
		return record{claim: &r}, nil
	}
}

// ParseKeyGroups parses a list of key-group ranges, "0-42,64-70,99": each
// "start-end" (both inclusive) or one key group. The ranges must not
// overlap; they are returned in order.
func ParseKeyGroups(s string) ([]registry.KeyGroupRange, error) {
	var out []registry.KeyGroupRange
	for part := range strings.SplitSeq(s, ",") {
		r, ok := registry.ParseKeyGroupRange(part)
		if !ok || r.Start < 0 || r.End < r.Start {
			return nil, fmt.Errorf("etcddir: %q is not a key-group range (want start-end, both inclusive, or one key group)", part)
		}
		out = append(out, r)
	}
	sortRanges(out)
	for i := 1; i < len(out); i++ {
		if out[i].Start <= out[i-1].End {
			return nil, fmt.Errorf("etcddir: key groups %s and %s overlap", out[i-1], out[i])
		}
	}
	return out, nil
}

// checkName checks a node or cluster name: 1 to 64 letters, digits, '.',
// '_' or '-' (it is a path element of etcd keys and appears in logs).
func checkName(what, s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("etcddir: %s name %q: want 1 to 64 characters", what, s)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("etcddir: %s name %q: only letters, digits, '.', '_' and '-'", what, s)
		}
	}
	return nil
}

// sortRanges sorts key-group ranges by their first key group.
func sortRanges(rs []registry.KeyGroupRange) {
	slices.SortFunc(rs, func(a, b registry.KeyGroupRange) int { return cmp.Compare(a.Start, b.Start) })
}
