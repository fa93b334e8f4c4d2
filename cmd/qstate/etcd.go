package main

// `qstate serve --etcd-endpoints`: a cluster node whose membership and
// key-group locations live in etcd (package etcddir), and `qstate cluster
// status`, which prints what etcd says about a cluster.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/qstate/qstate/cluster"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/etcddir"
	"github.com/qstate/qstate/registry"
)

// etcdFlags are serve's flags for a cluster kept in etcd.
type etcdFlags struct {
	EtcdEndpoints []string      `env:"QSTATE_ETCD_ENDPOINTS" sep:"," placeholder:"URLS" help:"Serve as one node of a cluster kept in etcd at these client URLs (http://127.0.0.1:2379,...): the node registers under a lease with its addresses and the key groups it holds (--key-groups), and forwards requests for the other nodes' key groups. Needs --node and --dataset synthetic; not with --cluster."`
	ClusterName   string        `default:"qstate" env:"QSTATE_CLUSTER_NAME" help:"With --etcd-endpoints: the cluster's name (its keys live under /qstate/NAME/)."`
	EtcdTTL       time.Duration `default:"10s" env:"QSTATE_ETCD_TTL" help:"With --etcd-endpoints: lease TTL. A node that dies keeps its key groups this long; an etcd outage longer than this makes nodes register again when it ends. At least 1s."`
}

// etcdNode is what serve needs of its etcd membership: the directory the
// node's forwarder asks, the membership once joined, and how many keys
// the node holds (for the banner).
type etcdNode struct {
	dir    cluster.LateDirectory // the membership, set once the ports listen
	member *etcddir.Node
	keys   int
}

// leave revokes the node's lease, so that its peers stop forwarding to it
// before its ports close (n may be nil).
func (n *etcdNode) leave() error {
	if n == nil || n.member == nil {
		return nil
	}
	return n.member.Close()
}

// keyGroups returns the synthetic key groups this node holds: --key-groups,
// or every key group of --max-parallelism.
func (c *serveCmd) keyGroups() ([]registry.KeyGroupRange, error) {
	maxP := c.maxParallelism()
	if maxP < 1 || maxP > registry.MaxParallelismUpperBound {
		return nil, fmt.Errorf("serve: --max-parallelism %d is not in [1, %d]", maxP, registry.MaxParallelismUpperBound)
	}
	if c.KeyGroups == "" {
		return []registry.KeyGroupRange{{Start: 0, End: maxP - 1}}, nil
	}
	rs, err := etcddir.ParseKeyGroups(c.KeyGroups)
	if err != nil {
		return nil, fmt.Errorf("serve: --key-groups: %w", err)
	}
	if last := rs[len(rs)-1]; last.End >= maxP {
		return nil, fmt.Errorf("serve: --key-groups: %s is beyond --max-parallelism %d (key groups 0-%d)", last, maxP, maxP-1)
	}
	return rs, nil
}

func (c *serveCmd) maxParallelism() int {
	if c.MaxParallelism == 0 {
		return dataset.SyntheticMaxParallelism
	}
	return c.MaxParallelism
}

// registerSyntheticPart registers the synthetic keys of this node's key
// groups, one registration per range (random KvStateIDs), and returns how
// many keys it holds.
func (c *serveCmd) registerSyntheticPart(reg *registry.Registry) (int, error) {
	if c.StateBackend == "pebble" {
		return 0, errors.New("serve: --key-groups, --max-parallelism and --etcd-endpoints hold the synthetic keys on the heap: not with --state-backend pebble")
	}
	ranges, err := c.keyGroups()
	if err != nil {
		return 0, err
	}
	part, err := dataset.SyntheticPart(c.Keys, c.ValueSize, c.maxParallelism(), ranges...)
	if err != nil {
		return 0, err
	}
	job, err := registry.ParseJobID(dataset.SyntheticJobID)
	if err != nil {
		return 0, err
	}
	for _, r := range ranges {
		if _, err := reg.Register(job, dataset.SyntheticState, r, c.maxParallelism(), part); err != nil {
			return 0, fmt.Errorf("serve: register key groups %s: %w", r, err)
		}
	}
	return part.Len(), nil
}

// prepareEtcd checks the flags and registers this node's synthetic key
// groups in reg; join registers the node in etcd once the ports listen.
func (c *serveCmd) prepareEtcd(reg *registry.Registry) (*etcdNode, error) {
	switch {
	case c.Node == "":
		return nil, errors.New("serve: --etcd-endpoints needs --node (this node's name in the cluster)")
	case c.Cluster != "":
		return nil, errors.New("serve: --etcd-endpoints and --cluster exclude each other (etcd or a file describes the cluster)")
	case c.Dataset != "synthetic":
		return nil, errors.New("serve: a cluster node serves the synthetic dataset: add --dataset synthetic")
	}
	keys, err := c.registerSyntheticPart(reg)
	if err != nil {
		return nil, err
	}
	return &etcdNode{keys: keys}, nil
}

// join registers the node in etcd with the addresses its ports listen on.
func (n *etcdNode) join(ctx context.Context, c *serveCmd, reg *registry.Registry, proxy, state net.Addr, log zerolog.Logger) error {
	m, err := etcddir.Start(ctx, etcddir.Config{Endpoints: c.EtcdEndpoints, Cluster: c.ClusterName, Node: c.Node,
		ProxyAddr: proxy.String(), StateAddr: state.String(), Registry: reg, TTL: c.EtcdTTL, Logger: log})
	if err != nil {
		return fmt.Errorf("serve: join cluster %q in etcd: %w", c.ClusterName, err)
	}
	n.member = m
	n.dir.Set(m)
	return nil
}

// printEtcdBanner tells what an etcd cluster node holds and how to look at the cluster.
func (c *serveCmd) printEtcdBanner(w io.Writer, proxy net.Addr, keys int) {
	b := new(strings.Builder)
	defer func() { _, _ = io.WriteString(w, b.String()) }()
	ranges, _ := c.keyGroups()
	var rs []string
	for _, r := range ranges {
		rs = append(rs, fmt.Sprintf("%d-%d", r.Start, r.End))
	}
	fmt.Fprintf(b, "qstate serving as node %s of cluster %q in etcd at %s\n", c.Node, c.ClusterName, strings.Join(c.EtcdEndpoints, ","))
	fmt.Fprintf(b, "  proxy port (KvStateRequest):                %s\n", proxy)
	fmt.Fprintf(b, "dataset synthetic: ValueState<byte[]> of Integer keys 0..%d, %d-byte values (byte j of key i = byte(i*31+j))\n",
		c.Keys-1, c.ValueSize)
	fmt.Fprintf(b, "  this node holds key groups %s of %d (%d of the keys); requests for the others are forwarded\n",
		strings.Join(rs, ","), c.maxParallelism(), keys)
	fmt.Fprintf(b, "try (any key, through any node's proxy):\n  qstate query --addr %s --job %s --state %s --key 0 --key-type int --value-type bytes\n",
		proxy, dataset.SyntheticJobID, dataset.SyntheticState)
	fmt.Fprintf(b, "  qstate cluster status --etcd-endpoints %s --cluster-name %s\n", strings.Join(c.EtcdEndpoints, ","), c.ClusterName)
}

// clusterCmd is the 'cluster' command group.
type clusterCmd struct {
	Status clusterStatusCmd `cmd:"" help:"Print a cluster kept in etcd: its live members, who holds which key groups, and the key groups no live node holds."`
}

// clusterStatusCmd is 'cluster status'.
type clusterStatusCmd struct {
	EtcdEndpoints []string      `required:"" sep:"," env:"QSTATE_ETCD_ENDPOINTS" placeholder:"URLS" help:"etcd client URLs."`
	ClusterName   string        `default:"qstate" env:"QSTATE_CLUSTER_NAME" help:"The cluster's name."`
	Timeout       time.Duration `default:"5s" help:"Bound on connecting to etcd and reading."`
}

// Run prints the status to stdout.
func (c *clusterStatusCmd) Run() error {
	return c.run(context.Background(), os.Stdout)
}

func (c *clusterStatusCmd) run(ctx context.Context, w io.Writer) error {
	v, bad, err := etcddir.ReadView(ctx, c.EtcdEndpoints, c.ClusterName, c.Timeout)
	if err != nil {
		return err
	}
	writeStatus(w, c.ClusterName, v, bad)
	return nil
}

// writeStatus prints a view: members, each state's key groups by holder,
// claims that newer ones shadow, key groups nobody holds.
func writeStatus(w io.Writer, name string, v *etcddir.View, bad []error) {
	var b strings.Builder
	fmt.Fprintf(&b, "cluster %q at etcd revision %d: %d live members\n", name, v.Revision, len(v.Members))
	for _, m := range v.Members {
		fmt.Fprintf(&b, "  member %-16s proxy %-21s state %s\n", m.Name, m.ProxyAddr, m.StateAddr)
	}
	for _, s := range v.States {
		fmt.Fprintf(&b, "state %q of job %s, %d key groups:\n", s.Name, s.Job, s.MaxParallelism)
		for _, p := range s.Pieces {
			fmt.Fprintf(&b, "  key groups %d-%d: %s (KvStateID %s, claimed at revision %d)\n",
				p.KeyGroups.Start, p.KeyGroups.End, p.Claim.Node, p.Claim.ID, p.Claim.Revision)
		}
		for _, cl := range s.Claims {
			if vis := s.Visible(cl); len(vis) != 1 || vis[0] != cl.KeyGroups {
				fmt.Fprintf(&b, "  shadowed: %s's claim on %d-%d (revision %d) lost to newer claims; its node releases it\n",
					cl.Node, cl.KeyGroups.Start, cl.KeyGroups.End, cl.Revision)
			}
		}
		if u := s.Uncovered(); u != nil {
			var us []string
			for _, r := range u {
				us = append(us, fmt.Sprintf("%d-%d", r.Start, r.End))
			}
			fmt.Fprintf(&b, "  NO LIVE NODE holds key groups %s: their keys fail with UnknownKvStateKeyGroupLocationException\n", strings.Join(us, ","))
		} else {
			fmt.Fprintf(&b, "  every key group is held\n")
		}
	}
	if len(v.States) == 0 {
		fmt.Fprintf(&b, "no states published\n")
	}
	for _, err := range bad {
		fmt.Fprintf(&b, "ignored record: %v\n", err)
	}
	_, _ = io.WriteString(w, b.String())
}
