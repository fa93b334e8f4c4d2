package etcddir

import (
	"cmp"
	"errors"
	"net"
	"time"

	"github.com/rs/zerolog"

	"github.com/qstate/qstate/internal/configcheck"
	"github.com/qstate/qstate/registry"
)

// Defaults for the zero fields of Config, with the reason for each.
const (
	// DefaultCluster is the cluster name when Config.Cluster is empty.
	DefaultCluster = "qstate"
	// DefaultTTL is the lease TTL (10 s): how long a node that died keeps
	// its key groups (their requests fail fast at the dead address, after
	// a few bounded retries, until then), and how long an etcd outage may
	// last before the node renews its registration with a new lease.
	// etcd's own default election timeout is 1 s; ten times that rides
	// out a leader change without losing anyone.
	DefaultTTL = 10 * time.Second
	// DefaultDialTimeout bounds connecting to etcd and each call to it (5 s).
	DefaultDialTimeout = 5 * time.Second
	// DefaultSyncInterval is how often the node compares what its registry
	// holds with what it published, and retries what failed (1 s); Sync
	// asks for it at once.
	DefaultSyncInterval = time.Second
	// minTTL is etcd's smallest lease TTL (with a short election timeout).
	minTTL = time.Second
)

// Errors of the package; functions wrap them with context (%w).
var (
	// ErrConfig reports an invalid Config; Validate wraps it once per problem.
	ErrConfig = errors.New("etcddir: invalid config")
	// ErrUnavailable reports etcd not answering within the dial timeout.
	ErrUnavailable = errors.New("etcddir: etcd unavailable")
)

// Config configures a Node. Validate checks it once; zero fields take
// the default their comment names.
type Config struct {
	// Endpoints are etcd's client URLs ("http://127.0.0.1:2379"). Required.
	Endpoints []string
	// Cluster names the cluster: its keys live under /qstate/<Cluster>/.
	// Zero: DefaultCluster.
	Cluster string
	// Node is this node's name in the cluster (letters, digits, '.', '_',
	// '-'; at most 64). A node restarted under the same name replaces its
	// earlier registration. Required.
	Node string
	// ProxyAddr and StateAddr are the addresses clients and peers dial
	// (host:port, the host not a wildcard). Required.
	ProxyAddr, StateAddr string
	// Registry is the node's registry: its local registrations are what the
	// node publishes, and the node records in it, as remote registrations,
	// the key groups other nodes serve. Required.
	Registry *registry.Registry
	// TTL is the lease TTL, at least 1 s. Zero: DefaultTTL.
	TTL time.Duration
	// DialTimeout bounds connecting to etcd and each call. Zero: DefaultDialTimeout.
	DialTimeout time.Duration
	// SyncInterval is how often the registry is compared with what was
	// published. Zero: DefaultSyncInterval.
	SyncInterval time.Duration
	// Logger receives membership events: registered, lost a range, etcd
	// unreachable and back. The zero value logs nothing.
	Logger zerolog.Logger
}

func (c Config) withDefaults() Config {
	c.Cluster = cmp.Or(c.Cluster, DefaultCluster)
	c.TTL = cmp.Or(c.TTL, DefaultTTL)
	c.DialTimeout = cmp.Or(c.DialTimeout, DefaultDialTimeout)
	c.SyncInterval = cmp.Or(c.SyncInterval, DefaultSyncInterval)
	return c
}

// Validate reports every problem of c (after defaults) in one error; each
// wraps ErrConfig.
func (c Config) Validate() error {
	c = c.withDefaults()
	p := configcheck.New(ErrConfig)
	if len(c.Endpoints) == 0 {
		p.Addf("no etcd endpoints")
	}
	if err := checkName("cluster", c.Cluster); err != nil {
		p.Addf("%v", err)
	}
	if err := checkName("node", c.Node); err != nil {
		p.Addf("%v", err)
	}
	for _, a := range []struct{ what, addr string }{{"ProxyAddr", c.ProxyAddr}, {"StateAddr", c.StateAddr}} {
		host, _, err := net.SplitHostPort(a.addr)
		switch {
		case err != nil:
			p.Addf("%s %q is not host:port", a.what, a.addr)
		case host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified():
			p.Addf("%s %q: peers must be able to dial it (not a wildcard)", a.what, a.addr)
		}
	}
	if c.Registry == nil {
		p.Addf("Registry is nil")
	}
	if c.TTL < minTTL {
		p.Addf("TTL %v is below etcd's minimum of %v", c.TTL, minTTL)
	}
	configcheck.NonNegative(p, "DialTimeout", c.DialTimeout)
	configcheck.NonNegative(p, "SyncInterval", c.SyncInterval)
	return p.Err()
}
