package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/qstate/qstate/cluster"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/handler"
	"github.com/qstate/qstate/metrics"
	"github.com/qstate/qstate/node"
	"github.com/qstate/qstate/pebblestate"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/state"
)

// Listen addresses when --proxy-addr / --server-addr are not given (and,
// with --cluster, the file does not say).
const (
	defaultProxyAddr = "127.0.0.1:9069"
	defaultStateAddr = "127.0.0.1:9067"
)

// serveCmd is the 'serve' subcommand: one node with a proxy port and a
// state-server port, serving the embedded demo task or the synthetic
// benchmark dataset, alone or as one node of a cluster (--cluster).
type serveCmd struct {
	ProxyAddr       string           `env:"QSTATE_PROXY_ADDR" placeholder:"HOST:PORTS" help:"Proxy port (KvStateRequest, what Flink's QueryableStateClient sends). Ports may be a range or list: 9069-9079,9090; the first free one is used. Default: 127.0.0.1:9069, or with --cluster the node's proxy address in the file."`
	ServerAddr      string           `env:"QSTATE_SERVER_ADDR" placeholder:"HOST:PORTS" help:"State-server port (KvStateInternalRequest, what a Flink proxy sends). Ranges as for --proxy-addr. Default: 127.0.0.1:9067, or with --cluster the node's state address in the file."`
	Dataset         string           `default:"demo" enum:"demo,synthetic" env:"QSTATE_DATASET" help:"What to serve: ${enum}. demo: live states of an embedded task; synthetic: the benchmark ValueState<byte[]>."`
	Keys            int              `default:"1000" env:"QSTATE_KEYS" help:"Synthetic dataset: number of Integer keys (0..N-1)."`
	ValueSize       int              `default:"8" env:"QSTATE_VALUE_SIZE" help:"Synthetic dataset: value size in bytes."`
	Cluster         string           `env:"QSTATE_CLUSTER" placeholder:"FILE" type:"existingfile" help:"Serve as one node of the cluster this JSON file describes (nodes, their addresses, which key groups each holds; see examples/cluster/cluster.json). Needs --node and --dataset synthetic: the node holds the synthetic keys of its key groups and forwards requests for the others to their owners."`
	Node            string           `env:"QSTATE_NODE" help:"With --cluster: this node's name in the file. With --etcd-endpoints: its name in the cluster."`
	KeyGroups       string           `env:"QSTATE_KEY_GROUPS" placeholder:"RANGES" help:"Synthetic dataset: hold only the keys of these key groups (0-42,86-90; both ends inclusive). Default: all of them."`
	MaxParallelism  int              `default:"128" env:"QSTATE_MAX_PARALLELISM" help:"Synthetic dataset: number of key groups (the operator's max parallelism)."`
	ForwardTimeout  time.Duration    `default:"5s" env:"QSTATE_FORWARD_TIMEOUT" help:"With --cluster or --etcd-endpoints: how long a forwarded request may take, retries included."`
	ForwardAttempts int              `default:"4" env:"QSTATE_FORWARD_ATTEMPTS" help:"With --cluster or --etcd-endpoints: how many times a forwarded request is sent at most when its owner's location is stale or its node unreachable (with exponential backoff from 10ms)."`
	DemoInterval    time.Duration    `default:"100ms" env:"QSTATE_DEMO_INTERVAL" help:"Demo dataset: time between two events of the demo task."`
	ShutdownTimeout time.Duration    `default:"10s" env:"QSTATE_SHUTDOWN_TIMEOUT" help:"On SIGINT/SIGTERM, how long to let in-flight requests finish."`
	Dispatch        handler.Dispatch `default:"auto" env:"QSTATE_DISPATCH" group:"Limits" help:"Where look-ups run: auto (an ants worker pool, but a lone request on an idle connection on the event loop, where a hop would only add a wake-up), pool (always the pool) or inline (on the event loop; not with --cluster). Forwards and state on disk always run on the pool."`
	LogLevel        string           `default:"info" enum:"debug,info,warn,error" env:"QSTATE_LOG_LEVEL" help:"Log level: ${enum}."`

	etcdFlags  // --etcd-endpoints, --cluster-name, --etcd-ttl (etcd.go)
	opsFlags   // --config, --admin, --log-format and the limits (ops.go)
	storeFlags // --state-backend, --data-dir, --cache-size, --wal (store.go)
}

// Run runs the subcommand until SIGINT or SIGTERM.
func (c *serveCmd) Run() error {
	ctx, stop := notifyShutdown(os.Stderr, os.Exit) // a second signal exits at once (signals.go)
	defer stop()
	if c.MemoryLimit > 0 { // process-wide: set here, not in run (tests run it in process)
		debug.SetMemoryLimit(c.MemoryLimit)
	}
	log, err := newLogger(os.Stderr, c.LogFormat, c.LogLevel, isTerminal(os.Stderr))
	if err != nil {
		return err
	}
	return c.run(ctx, os.Stdout, log, nil)
}

// run serves until ctx ends, then shuts down within ShutdownTimeout. It
// prints what it serves to w once both ports listen and then calls ready
// (if set) with their addresses.
func (c *serveCmd) run(ctx context.Context, w io.Writer, log zerolog.Logger, ready func(proxy, state net.Addr)) (err error) {
	lvl, err := zerolog.ParseLevel(c.LogLevel)
	if err != nil {
		return err
	}
	log = log.Level(lvl)

	reg := registry.New()
	var demo *dataset.Demo
	var member *clusterMember
	var en *etcdNode
	var store *pebblestate.DB // --state-backend pebble
	proxyAddr, stateAddr := c.ProxyAddr, c.ServerAddr
	switch {
	case len(c.EtcdEndpoints) > 0:
		if en, err = c.prepareEtcd(reg); err != nil {
			return err
		}
	case c.Cluster != "":
		if member, err = c.joinCluster(reg, log); err != nil {
			return err
		}
		proxyAddr = cmp.Or(proxyAddr, member.self.ProxyAddr)
		stateAddr = cmp.Or(stateAddr, member.self.StateAddr)
	case c.Node != "":
		return errors.New("serve: --node needs --cluster")
	case c.Dataset == "demo":
		if demo, err = dataset.NewDemo(reg); err != nil {
			return err
		}
	case c.Dataset == "synthetic" && (c.KeyGroups != "" || c.maxParallelism() != dataset.SyntheticMaxParallelism):
		if _, err := c.registerSyntheticPart(reg); err != nil {
			return err
		}
	case c.Dataset == "synthetic":
		if store, err = c.registerSynthetic(reg, log); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, closeStore(store)) }() // after the servers and the handler
	default:
		return fmt.Errorf("serve: unknown dataset %q (want demo or synthetic)", c.Dataset)
	}

	cfg := c.nodeConfig(cmp.Or(proxyAddr, defaultProxyAddr), cmp.Or(stateAddr, defaultStateAddr), log)
	if member != nil {
		cfg.Directory, cfg.ForwardAttempts = member.dir, c.ForwardAttempts
	}
	if en != nil {
		cfg.Directory, cfg.ForwardAttempts = &en.dir, c.ForwardAttempts
	}
	promReg, err := c.newMetricsRegistry()
	if err != nil {
		return err
	}
	if promReg != nil {
		cfg.Registerer = promReg
		if store != nil {
			if err := promReg.Register(metrics.NewStoreCollector(storeStats(store))); err != nil {
				return err
			}
		}
	}
	n, err := node.New(reg, cfg)
	if err != nil {
		return err
	}
	admin, err := c.startAdmin(promReg, log)
	if err != nil {
		return errors.Join(err, n.Shutdown(context.Background()))
	}

	// Serve until ctx ends (Serve then shuts the node down within
	// ShutdownTimeout) or a port stops by itself.
	// A cluster node in etcd leaves the cluster before its ports close
	// (peers stop forwarding to it), so Serve gets its own context.
	serveCtx, stopServing := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServing()
	served := make(chan error, 1)
	go func() { served <- n.Serve(serveCtx) }()
	var serveErr error
	select {
	case <-n.Ready():
	case serveErr = <-served:
	}
	demoDone := make(chan struct{})
	demoCtx, stopDemo := context.WithCancel(ctx)
	if proxy, state := n.Addrs(); serveErr == nil && en != nil && proxy != nil && state != nil {
		// Registered once the ports listen: peers must find them.
		if serveErr = en.join(ctx, c, reg, proxy, state, log); serveErr != nil {
			stopServing()
			<-served
		}
	}
	if proxy, state := n.Addrs(); serveErr == nil && proxy != nil && state != nil {
		if en != nil {
			c.printEtcdBanner(w, proxy, en.keys)
		} else {
			c.printBanner(w, reg, proxy, state, member)
		}
		log.Info().Str("proxy", proxy.String()).Str("state", state.String()).
			Str("dataset", c.Dataset).Stringer("dispatch", c.Dispatch).Msg("serving")
		if member == nil && en == nil && c.KeyGroups == "" {
			// Show a query answered over TCP, as an outside reader sees it.
			if err := selfQuery(ctx, w, proxy, c.Dataset, c.ValueSize); err != nil {
				log.Warn().Err(err).Msg("start-up self-query failed")
			}
		}
		if ready != nil {
			ready(proxy, state)
		}
		if demo != nil {
			go func() {
				defer close(demoDone)
				_ = demo.Run(demoCtx, c.DemoInterval)
			}()
		} else {
			close(demoDone)
		}
		select {
		case <-ctx.Done():
			log.Info().Msg("signal received: shutting down")
			if err := en.leave(); err != nil {
				log.Warn().Err(err).Msg("leaving the cluster")
			}
			stopServing()
			serveErr = <-served
		case serveErr = <-served:
			log.Error().Err(serveErr).Msg("a port stopped serving: shutting down")
		}
	} else {
		close(demoDone)
		if serveErr == nil {
			serveErr = <-served // a port did not listen: Serve says why
		}
	}
	if err := en.leave(); err != nil {
		log.Warn().Err(err).Msg("leaving the cluster")
	}
	stopDemo()
	<-demoDone

	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	var errs []error
	if serveErr != nil && !errors.Is(serveErr, node.ErrNodeClosed) {
		errs = append(errs, fmt.Errorf("serve: %w", serveErr))
	}
	if err := admin.shutdown(sctx); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		log.Info().Msg("stopped")
	}
	return errors.Join(errs...)
}

// clusterMember is what serve needs of its cluster: the description, this
// node, the directory its forwarder asks, and what the node holds (for
// the banner).
type clusterMember struct {
	path string
	c    *cluster.Cluster
	self cluster.Node
	dir  cluster.Directory
	keys int // synthetic keys held here
}

// joinCluster reads the cluster description and registers this node's
// view of it in reg: its key groups of the synthetic state held here, the
// others as its peers'. The node forwards requests for the peers' key
// groups, asking the directory (which re-reads the file) when a location
// proves stale.
func (c *serveCmd) joinCluster(reg *registry.Registry, log zerolog.Logger) (*clusterMember, error) {
	if c.Node == "" {
		return nil, errors.New("serve: --cluster needs --node (this node's name in the file)")
	}
	if c.Dataset != "synthetic" {
		return nil, errors.New("serve: a cluster node serves the synthetic dataset: add --dataset synthetic")
	}
	dir, err := cluster.OpenFile(c.Cluster, 0)
	if err != nil {
		return nil, err
	}
	n := &clusterMember{path: c.Cluster, c: dir.Cluster(), dir: dir}
	var ok bool
	if n.self, ok = n.c.Node(c.Node); !ok {
		return nil, fmt.Errorf("serve: node %q is not in %s (its nodes: %s)", c.Node, c.Cluster, nodeNames(n.c))
	}
	syntheticJob, err := registry.ParseJobID(dataset.SyntheticJobID)
	if err != nil {
		return nil, err
	}
	parts := make(map[*cluster.State]state.KvState)
	local := func(s *cluster.State, _ cluster.Range) (state.KvState, error) {
		if s.Job != syntheticJob || s.Name != dataset.SyntheticState {
			return nil, fmt.Errorf("qstate serve holds only the synthetic state %q of job %s", dataset.SyntheticState, dataset.SyntheticJobID)
		}
		if p, ok := parts[s]; ok {
			return p, nil // one state for all of this node's ranges
		}
		var mine []registry.KeyGroupRange
		for _, r := range s.Ranges {
			if r.Node == c.Node {
				mine = append(mine, r.KeyGroups)
			}
		}
		p, err := dataset.SyntheticPart(c.Keys, c.ValueSize, s.MaxParallelism, mine...)
		if err != nil {
			return nil, err
		}
		parts[s], n.keys = p, n.keys+p.Len()
		return p, nil
	}
	if _, err := cluster.Apply(reg, n.c, c.Node, local); err != nil {
		return nil, err
	}
	for i := range n.c.States {
		if u := n.c.States[i].Uncovered(); u != nil {
			log.Warn().Str("state", n.c.States[i].Name).Interface("keyGroups", u).
				Msg("no node holds these key groups: their keys fail with UnknownKvStateKeyGroupLocationException")
		}
	}
	return n, nil
}

// nodeNames lists the node names of c.
func nodeNames(c *cluster.Cluster) string {
	names := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		names[i] = n.Name
	}
	return strings.Join(names, ", ")
}

// printBanner tells the user what is served and how to query it.
func (c *serveCmd) printBanner(w io.Writer, reg *registry.Registry, proxy, state net.Addr, member *clusterMember) {
	var b strings.Builder
	if member != nil {
		fmt.Fprintf(&b, "qstate serving as node %s of the cluster in %s (%d nodes)\n", member.self.Name, member.path, len(member.c.Nodes))
	} else {
		fmt.Fprintf(&b, "qstate serving\n")
	}
	fmt.Fprintf(&b, "  proxy port (KvStateRequest):                %s\n", proxy)
	fmt.Fprintf(&b, "  state-server port (KvStateInternalRequest): %s\n", state)
	switch c.Dataset {
	case "demo":
		fmt.Fprintf(&b, "dataset demo (updated every %v)\n  JobID %s\n", c.DemoInterval, dataset.DemoJobID)
		for _, s := range dataset.DemoStates() {
			id, _ := dataset.DemoKvStateID(reg, s.Name)
			fmt.Fprintf(&b, "  state %-16s %-5s key %s, value %s; example keys: %s; KvStateID %s\n",
				s.Name, s.Kind, s.KeyType, s.ValueType, strings.Join(s.ExampleKeys, ", "), id)
		}
		fmt.Fprintf(&b, "try:\n")
		for _, s := range dataset.DemoStates() {
			fmt.Fprintf(&b, "  qstate query --addr %s --job %s --state %s --key %s %s\n",
				proxy, dataset.DemoJobID, s.Name, s.ExampleKeys[0], queryTypeFlags(s))
		}
	case "synthetic":
		if member != nil {
			c.printClusterBanner(&b, proxy, member)
			break
		}
		id, _ := dataset.SyntheticKvStateID(reg)
		fmt.Fprintf(&b, "dataset synthetic: ValueState<byte[]> of Integer keys 0..%d, %d-byte values (byte j of key i = byte(i*31+j))\n",
			c.Keys-1, c.ValueSize)
		fmt.Fprintf(&b, "  JobID %s, state %q, KvStateID %s\n", dataset.SyntheticJobID, dataset.SyntheticState, id)
		fmt.Fprintf(&b, "try:\n  qstate query --addr %s --job %s --state %s --key 0 --key-type int --value-type bytes\n",
			proxy, dataset.SyntheticJobID, dataset.SyntheticState)
	}
	_, _ = io.WriteString(w, b.String())
}

// printClusterBanner tells what a cluster node holds, where the rest is,
// and how to query it.
func (c *serveCmd) printClusterBanner(b *strings.Builder, proxy net.Addr, member *clusterMember) {
	fmt.Fprintf(b, "dataset synthetic: ValueState<byte[]> of Integer keys 0..%d, %d-byte values (byte j of key i = byte(i*31+j))\n",
		c.Keys-1, c.ValueSize)
	fmt.Fprintf(b, "  this node holds %d of the keys: those whose key group is in its ranges\n", member.keys)
	for i := range member.c.States {
		s := &member.c.States[i]
		fmt.Fprintf(b, "  JobID %s, state %q, %d key groups:\n", s.Job, s.Name, s.MaxParallelism)
		for _, r := range s.Ranges {
			where := "here"
			if r.Node != member.self.Name {
				peer, _ := member.c.Node(r.Node)
				where = "node " + r.Node + ", forwarded to " + peer.StateAddr
			}
			fmt.Fprintf(b, "    key groups %d-%d: %s (KvStateID %s)\n", r.KeyGroups.Start, r.KeyGroups.End, where, s.RangeID(r))
		}
	}
	fmt.Fprintf(b, "try (any key, through any node's proxy):\n  qstate query --addr %s --job %s --state %s --key 0 --key-type int --value-type bytes\n",
		proxy, dataset.SyntheticJobID, dataset.SyntheticState)
}

// queryTypeFlags returns the `qstate query` type flags for a demo state.
func queryTypeFlags(s dataset.DemoStateInfo) string {
	switch s.Kind {
	case "map":
		mk, v, _ := strings.Cut(s.ValueType, "->")
		return "--key-type " + s.KeyType + " --kind map --map-key-type " + mk + " --value-type " + v
	default:
		return "--key-type " + s.KeyType + " --kind " + s.Kind + " --value-type " + s.ValueType
	}
}
