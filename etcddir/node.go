package etcddir

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/qstate/qstate/cluster"
	"github.com/qstate/qstate/registry"
)

var _ cluster.Directory = (*Node)(nil)

// maxTxnOps bounds the operations of one etcd transaction (etcd refuses
// more than 128 by default).
const maxTxnOps = 100

// Node is this node's membership of a cluster kept in etcd: it registers
// the node under a lease, publishes the key-group ranges its registry
// holds, watches the cluster and keeps the latest View, recording the
// other nodes' key groups in the registry as remote registrations. It
// is a cluster.Directory answering from that View (never calling etcd).
// Safe for concurrent use.
type Node struct {
	cfg  Config
	cli  *clientv3.Client
	log  zerolog.Logger
	errs zerolog.Logger // sampled: failures that repeat while etcd is down

	view    atomic.Pointer[View]
	trigger chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
	close   sync.Once

	// Owned by the run goroutine (and by Start before it runs).
	members    map[string]Member
	claims     map[string]claimRecord // by key
	lease      clientv3.LeaseID
	keepAlive  <-chan *clientv3.LeaseKeepAliveResponse
	kaCancel   context.CancelFunc
	lastKA     time.Time
	registered bool
	unreached  bool // an outage was logged
	resync     bool // the watch must be restarted from a fresh read
	dirty      bool // the registry or etcd needs another reconcile
	published  map[registry.KvStateID]claimRecord
	mirrored   map[registry.KvStateID]registry.Registration
	watch      clientv3.WatchChan
	watchStop  context.CancelFunc
	losses     atomic.Int64
}

// Start connects to etcd, registers the node with what its registry
// holds, reads the cluster and records the other nodes' key groups in the
// registry, and keeps all of that up to date until Close. It fails when
// the config is invalid or etcd does not answer within DialTimeout.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cli, err := clientv3.New(clientv3.Config{Endpoints: cfg.Endpoints, DialTimeout: cfg.DialTimeout,
		Logger: zap.NewNop(), Context: context.WithoutCancel(ctx)})
	if err != nil {
		return nil, fmt.Errorf("%w: %v: %w", ErrUnavailable, cfg.Endpoints, err)
	}
	log := cfg.Logger.With().Str("component", "etcddir").Str("cluster", cfg.Cluster).Str("node", cfg.Node).Logger()
	n := &Node{cfg: cfg, cli: cli, log: log,
		errs:    log.Sample(&zerolog.BurstSampler{Burst: 5, Period: 10 * time.Second}),
		trigger: make(chan struct{}, 1), done: make(chan struct{}),
		members: map[string]Member{}, claims: map[string]claimRecord{},
		published: map[registry.KvStateID]claimRecord{}, mirrored: map[registry.KvStateID]registry.Registration{}}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.cancel = cancel
	fail := func(err error) (*Node, error) {
		cancel()
		n.stopKeepAlive()
		if n.registered { // leave nothing behind for the TTL
			rctx, rcancel := n.call(context.Background())
			_, _ = cli.Revoke(rctx, n.lease)
			rcancel()
		}
		_ = cli.Close()
		return nil, err
	}
	if err := n.register(ctx); err != nil {
		return fail(err)
	}
	if err := n.load(ctx, runCtx); err != nil {
		return fail(err)
	}
	n.reconcile(ctx)
	n.log.Info().Int64("revision", n.View().Revision).Int("members", len(n.View().Members)).
		Dur("ttl", cfg.TTL).Msg("registered in etcd")
	go n.run(runCtx)
	return n, nil
}

// View returns the latest view of the cluster (do not modify it).
func (n *Node) View() *View { return n.view.Load() }

// Owner implements cluster.Directory from the latest View.
func (n *Node) Owner(_ context.Context, job registry.JobID, name string, keyHash int32) (registry.Owner, error) {
	return n.view.Load().Owner(job, name, keyHash)
}

// Losses counts the key-group ranges this node lost to newer claims.
func (n *Node) Losses() int64 { return n.losses.Load() }

// Sync asks the node to publish what its registry holds now, without
// waiting for the next SyncInterval. It does not block.
func (n *Node) Sync() {
	select {
	case n.trigger <- struct{}{}:
	default:
	}
}

// Close leaves the cluster: the lease is revoked, so every key of the node
// disappears at once, the remote registrations it recorded are removed from
// the registry, and the etcd client is closed. Idempotent.
func (n *Node) Close() error {
	var err error
	n.close.Do(func() {
		n.cancel()
		<-n.done
		n.stopKeepAlive()
		if n.registered {
			ctx, cancel := context.WithTimeout(context.Background(), n.cfg.DialTimeout)
			if _, rerr := n.cli.Revoke(ctx, n.lease); rerr != nil {
				err = fmt.Errorf("etcddir: revoke lease (its keys stay until the TTL ends): %w", rerr)
			}
			cancel()
		}
		if rerr := n.cfg.Registry.Replace(slices.Collect(maps.Keys(n.mirrored)), nil); rerr != nil {
			err = errors.Join(err, rerr)
		}
		n.mirrored = nil
		err = errors.Join(err, n.cli.Close())
		n.log.Info().Msg("left the cluster")
	})
	return err
}

// crash stops the node as a killed process would: no revoke, the lease
// expires after its TTL. For tests.
func (n *Node) crash() {
	n.close.Do(func() {
		n.cancel()
		<-n.done
		n.stopKeepAlive()
		_ = n.cli.Close()
	})
}

// run is the node's goroutine: watch events, keep-alives, periodic sync.
func (n *Node) run(ctx context.Context) {
	defer close(n.done)
	tick := time.NewTicker(min(n.cfg.SyncInterval, n.cfg.TTL/4))
	defer tick.Stop()
	lastSync := time.Now()
	for {
		select {
		case <-ctx.Done():
			if n.watchStop != nil {
				n.watchStop()
			}
			return
		case wr, ok := <-n.watch:
			if ctx.Err() != nil {
				continue // closing: ctx.Done is ready too
			}
			if !ok || wr.Err() != nil || wr.Canceled {
				n.errs.Warn().Err(wr.Err()).Msg("etcd watch ended: re-reading the cluster")
				n.resync, n.watch = true, nil
				n.reload(ctx)
				continue
			}
			n.apply(wr)
			n.reconcile(ctx)
		case ka, ok := <-n.keepAlive:
			if !ok {
				n.leaseLost(ctx, "no keep-alive answer within the TTL")
				continue
			}
			n.lastKA = time.Now()
			if n.unreached {
				n.unreached = false
				n.log.Info().Int64("ttl", ka.TTL).Msg("etcd reachable again: lease kept")
			}
		case <-tick.C:
			if n.registered && !n.unreached && time.Since(n.lastKA) > n.cfg.TTL*3/4 {
				n.unreached = true
				n.log.Warn().Int64("revision", n.View().Revision).
					Msg("etcd unreachable: serving from the last view; registering again when it returns")
			}
			if !n.registered {
				if err := n.register(ctx); err != nil {
					n.errs.Warn().Err(err).Msg("register again: etcd still unreachable")
				}
			}
			if n.resync {
				n.reload(ctx)
			}
			if n.dirty || time.Since(lastSync) >= n.cfg.SyncInterval {
				lastSync = time.Now()
				n.reconcile(ctx)
			}
		case <-n.trigger:
			n.reconcile(ctx)
		}
	}
}

// leaseLost drops the registration and tries to register again.
func (n *Node) leaseLost(ctx context.Context, why string) {
	if !n.registered {
		return
	}
	n.stopKeepAlive()
	n.registered, n.unreached = false, true
	n.log.Warn().Str("why", why).Int64("revision", n.View().Revision).
		Msg("lease lost: serving from the last view; registering again when etcd answers")
	if err := n.register(ctx); err != nil {
		n.errs.Warn().Err(err).Msg("register again: etcd unreachable")
	}
}

func (n *Node) stopKeepAlive() {
	if n.kaCancel != nil {
		n.kaCancel()
		n.kaCancel, n.keepAlive = nil, nil
	}
}

// call returns a context for one etcd call.
func (n *Node) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, n.cfg.DialTimeout)
}

// desired returns the claims of the registry's local registrations.
func (n *Node) desired() map[registry.KvStateID]claimRecord {
	out := map[registry.KvStateID]claimRecord{}
	for _, r := range n.cfg.Registry.Registrations() {
		if r.State == nil {
			continue
		}
		c := claimRecord{Job: r.Job, Name: r.Name}
		c.Node, c.ID, c.KeyGroups, c.MaxParallelism = n.cfg.Node, r.ID, r.KeyGroups, r.MaxParallelism
		out[r.ID] = c
	}
	return out
}

// register grants a lease and writes, under it, the member record and a
// claim for every local registration, deleting this node's other claims
// (those of an earlier process with the same name). Claims that already
// exist keep their creation revision: re-registering after an outage
// does not make them newer.
func (n *Node) register(ctx context.Context) error {
	cctx, cancel := n.call(ctx)
	defer cancel()
	existing, err := n.cli.Get(cctx, claimPrefix(n.cfg.Cluster, n.cfg.Node), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return fmt.Errorf("%w: read this node's claims: %w", ErrUnavailable, err)
	}
	grant, err := n.cli.Grant(cctx, int64(n.cfg.TTL/time.Second))
	if err != nil {
		return fmt.Errorf("%w: grant a lease: %w", ErrUnavailable, err)
	}
	lease := clientv3.WithLease(grant.ID)
	want := n.desired()
	var ops []clientv3.Op
	for id, c := range want {
		ops = append(ops, clientv3.OpPut(claimKey(n.cfg.Cluster, n.cfg.Node, id), encodeClaim(c), lease))
	}
	for _, kv := range existing.Kvs {
		_, _, idHex, err := parseKey(n.cfg.Cluster, string(kv.Key))
		if id, perr := registry.ParseKvStateID(idHex); err != nil || perr != nil || want[id] == (claimRecord{}) {
			ops = append(ops, clientv3.OpDelete(string(kv.Key)))
		}
	}
	// The member record last: peers take claims into account only with it.
	ops = append(ops, clientv3.OpPut(memberKey(n.cfg.Cluster, n.cfg.Node),
		encodeMember(Member{ProxyAddr: n.cfg.ProxyAddr, StateAddr: n.cfg.StateAddr}), lease))
	if err := n.commit(cctx, ops); err != nil {
		_, _ = n.cli.Revoke(cctx, grant.ID)
		return err
	}
	kaCtx, kaCancel := context.WithCancel(context.WithoutCancel(ctx))
	ka, err := n.cli.KeepAlive(kaCtx, grant.ID)
	if err != nil {
		kaCancel()
		return fmt.Errorf("%w: keep the lease alive: %w", ErrUnavailable, err)
	}
	old, hadOld := n.lease, n.lease != 0
	n.stopKeepAlive()
	n.lease, n.keepAlive, n.kaCancel, n.lastKA = grant.ID, ka, kaCancel, time.Now()
	n.registered, n.published = true, want
	if hadOld && old != grant.ID {
		// Its keys moved to the new lease; if it survived the outage,
		// nothing should keep it alive longer than needed.
		_, _ = n.cli.Revoke(cctx, old)
	}
	if n.unreached {
		n.unreached = false
		n.log.Info().Int("claims", len(want)).Msg("etcd reachable again: registered with a new lease")
	}
	return nil
}

// commit runs ops in transactions of at most maxTxnOps.
func (n *Node) commit(ctx context.Context, ops []clientv3.Op) error {
	for len(ops) > 0 {
		k := min(len(ops), maxTxnOps)
		if _, err := n.cli.Txn(ctx).Then(ops[:k]...).Commit(); err != nil {
			return fmt.Errorf("%w: write %d keys: %w", ErrUnavailable, k, err)
		}
		ops = ops[k:]
	}
	return nil
}

// load reads the whole cluster, replaces the records, and watches from
// the next revision.
func (n *Node) load(ctx, runCtx context.Context) error {
	cctx, cancel := n.call(ctx)
	defer cancel()
	resp, err := n.cli.Get(cctx, Prefix(n.cfg.Cluster), clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("%w: read the cluster: %w", ErrUnavailable, err)
	}
	n.members, n.claims = map[string]Member{}, map[string]claimRecord{}
	for _, kv := range resp.Kvs {
		n.put(kv.Key, kv.Value, kv.CreateRevision)
	}
	n.view.Store(buildView(resp.Header.Revision, n.members, n.claims))
	if n.watchStop != nil {
		n.watchStop()
	}
	wctx, wstop := context.WithCancel(runCtx)
	n.watch, n.watchStop = n.cli.Watch(wctx, Prefix(n.cfg.Cluster), clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1)), wstop
	n.resync = false
	return nil
}

// reload is load from the run goroutine: on failure it is retried on the
// next tick.
func (n *Node) reload(ctx context.Context) {
	if err := n.load(ctx, ctx); err != nil {
		n.errs.Warn().Err(err).Msg("re-read the cluster: etcd unreachable; retrying")
		return
	}
	n.reconcile(ctx)
}

// put records one key's value (a record that does not parse is dropped
// and logged).
func (n *Node) put(key, value []byte, createRev int64) {
	r, err := parseRecord(n.cfg.Cluster, key, value, createRev)
	if err != nil {
		n.del(key)
		if !errors.Is(err, errNotOurs) {
			n.errs.Warn().Err(err).Msg("ignoring a bad record")
		}
		return
	}
	switch {
	case r.member != nil:
		n.members[r.member.Name] = *r.member
	case r.claim != nil:
		n.claims[string(key)] = *r.claim
	}
}

// del forgets one key.
func (n *Node) del(key []byte) {
	kind, node, _, err := parseKey(n.cfg.Cluster, string(key))
	switch {
	case err != nil:
	case kind == "member":
		delete(n.members, node)
	default:
		delete(n.claims, string(key))
	}
}

// apply applies one watch response's events, in revision order, and
// publishes the new view.
func (n *Node) apply(wr clientv3.WatchResponse) {
	for _, ev := range wr.Events {
		if ev.Type == clientv3.EventTypeDelete {
			n.del(ev.Kv.Key)
		} else {
			n.put(ev.Kv.Key, ev.Kv.Value, ev.Kv.CreateRevision)
		}
	}
	n.view.Store(buildView(wr.Header.Revision, n.members, n.claims))
	if _, ok := n.members[n.cfg.Node]; n.registered && !ok {
		n.leaseLost(context.Background(), "this node's member record was deleted (lease expired)")
	}
}

// reconcile brings the registry in line with the view and etcd in line
// with the registry: a local range a newer claim covers is given up (whole,
// or shrunk to what is left under a new KvStateID); the key groups other
// nodes serve are recorded as remote registrations; then what changed
// locally is published. The registry changes in one step (Replace), so a
// look-up never finds a moved key group without an owner.
func (n *Node) reconcile(ctx context.Context) {
	v := n.view.Load()
	n.dirty = false
	var remove []registry.KvStateID
	var add []registry.Registration
	type stateLocal struct {
		ranges []registry.KeyGroupRange
		maxP   int
	}
	locals := map[stateKey]*stateLocal{}
	keep := func(r registry.Registration) {
		k := stateKey{r.Job, r.Name}
		if locals[k] == nil {
			locals[k] = &stateLocal{maxP: r.MaxParallelism}
		}
		locals[k].ranges = append(locals[k].ranges, r.KeyGroups)
	}
	for _, r := range n.cfg.Registry.Registrations() {
		if r.State == nil {
			continue
		}
		s, ok := v.State(r.Job, r.Name)
		var mine *Claim
		if ok {
			for _, c := range s.Claims {
				if c.Node == n.cfg.Node && c.ID == r.ID {
					mine = c
				}
			}
		}
		if mine == nil {
			keep(r) // not published yet (or not seen yet)
			continue
		}
		vis := s.Visible(mine)
		if len(vis) == 1 && vis[0] == r.KeyGroups {
			keep(r)
			continue
		}
		n.losses.Add(1)
		n.logLoss(s, mine, vis)
		remove = append(remove, r.ID)
		for _, kg := range vis {
			nr := r
			nr.ID, nr.KeyGroups = registry.NewKvStateID(), kg
			add = append(add, nr)
			keep(nr)
		}
	}
	for _, l := range locals {
		sortRanges(l.ranges)
	}
	want := map[registry.KvStateID]registry.Registration{}
	for _, s := range v.States {
		l := locals[stateKey{s.Job, s.Name}]
		if l != nil && l.maxP != s.MaxParallelism {
			n.errs.Warn().Str("state", s.Name).Int("local", l.maxP).Int("cluster", s.MaxParallelism).
				Msg("this node holds the state with another max parallelism: the other nodes' key groups are not recorded")
			continue
		}
		var mineRanges []registry.KeyGroupRange
		if l != nil {
			mineRanges = l.ranges
		}
		for _, p := range s.Pieces {
			if p.Claim.Node == n.cfg.Node {
				continue
			}
			for _, kg := range subtract(p.KeyGroups, mineRanges) {
				id := p.Claim.ID
				if _, dup := want[id]; dup {
					id = alias(id, kg.Start) // a second piece of one claim: a retry resolves the real ID
				}
				want[id] = registry.Registration{ID: id, Job: s.Job, Name: s.Name, KeyGroups: kg,
					MaxParallelism: s.MaxParallelism, Addr: p.StateAddr}
			}
		}
	}
	for id, r := range n.mirrored {
		if w, ok := want[id]; !ok || w != r {
			remove = append(remove, id)
		}
	}
	for id, w := range want {
		if r, ok := n.mirrored[id]; !ok || r != w {
			add = append(add, w)
		}
	}
	if len(remove) > 0 || len(add) > 0 {
		if err := n.cfg.Registry.Replace(remove, add); err != nil {
			n.dirty = true
			n.errs.Error().Err(err).Msg("could not record the cluster's view in the registry; retrying")
			return
		}
		n.mirrored = want
	}
	n.publish(ctx)
}

// logLoss says which key groups of a local range a newer claim took.
func (n *Node) logLoss(s *State, mine *Claim, vis []registry.KeyGroupRange) {
	var by []string
	for _, c := range s.Claims {
		if c.Revision > mine.Revision && c.Node != n.cfg.Node && c.KeyGroups.Start <= mine.KeyGroups.End && mine.KeyGroups.Start <= c.KeyGroups.End {
			by = append(by, fmt.Sprintf("%s (%s, revision %d)", c.Node, c.KeyGroups, c.Revision))
		}
	}
	n.log.Warn().Str("state", s.Name).Stringer("job", s.Job).Stringer("keyGroups", mine.KeyGroups).
		Int64("revision", mine.Revision).Str("newerClaims", strings.Join(by, ", ")).
		Interface("kept", vis).Msg("lost key groups to a newer claim: released them")
}

// publish writes the claims of local registrations that changed and
// deletes those of registrations that are gone.
func (n *Node) publish(ctx context.Context) {
	if !n.registered {
		return
	}
	want := n.desired()
	var ops []clientv3.Op
	for id, c := range want {
		if n.published[id] != c {
			ops = append(ops, clientv3.OpPut(claimKey(n.cfg.Cluster, n.cfg.Node, id), encodeClaim(c), clientv3.WithLease(n.lease)))
		}
	}
	for id := range n.published {
		if _, ok := want[id]; !ok {
			ops = append(ops, clientv3.OpDelete(claimKey(n.cfg.Cluster, n.cfg.Node, id)))
		}
	}
	if len(ops) == 0 {
		return
	}
	cctx, cancel := n.call(ctx)
	defer cancel()
	if err := n.commit(cctx, ops); err != nil {
		n.dirty = true
		n.errs.Warn().Err(err).Msg("could not publish this node's ranges; retrying")
		return
	}
	n.published = want
}

// alias is the KvStateID recorded for a second piece of a claim (the
// registry needs distinct IDs): the owner does not know it and answers
// UnknownKvStateIdException, and the forwarder's retry asks the Directory,
// which names the real ID. Only while a newer claim splits an older one.
func alias(id registry.KvStateID, start int) registry.KvStateID {
	h := sha256.Sum256(fmt.Appendf(nil, "qstate/etcddir/alias\x00%s\x00%d", id, start))
	var a registry.KvStateID
	copy(a[:], h[:])
	return a
}
