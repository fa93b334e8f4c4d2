// Package node assembles a serving qstate node, the one way every user
// starts one: the `qstate serve` command, the embedded example, the tests
// and a Go task runtime that embeds queryable state. A Node is a registry
// served on Flink's two ports (a proxy port for KvStateRequests, a
// state-server port for KvStateInternalRequests; package server, one each)
// by one handler (package handler: one look-up pool both ports share),
// optionally one node of a cluster (a cluster.Forwarder built from a
// cluster.Directory, or any handler.Forwarder) and exposed to Prometheus
// (package metrics, in the caller's prometheus.Registerer). It is modelled
// on net/http.Server (Serve, Shutdown, ErrNodeClosed) and on Pebble's
// Options (one plain Config, defaults and validation done once, every
// problem reported at once naming its field).
//
// An embedding task needs about five lines:
//
//	reg := registry.New()
//	// register the task's states in reg (registry.Register)
//	n, err := node.New(reg, node.Config{ProxyAddr: "0.0.0.0:9069", StateAddr: "0.0.0.0:9067"})
//	if err := n.Start(ctx); err != nil { ... }
//	defer n.Shutdown(context.Background())
//
// What it must not do: hold logic of its own on the request path (the
// servers and the handler answer; the node only wires them); keep global
// state (two nodes in one process are independent, metrics included);
// start anything it does not stop in Shutdown.
//
// # Lifecycle
//
// New validates the Config and builds everything without listening:
// handler and pool, the two servers, the Forwarder from Directory, the
// metrics collector registered in Registerer. Start (or Serve, which
// starts and then blocks) binds both ports: Ready is closed and Addrs set
// once both listen; if one cannot bind, the other is stopped and Start
// returns why. The node then serves until Shutdown, which stops accepting
// on both ports, lets every request already dispatched be answered and
// written, closes each connection once it has nothing left, then releases
// the pool, closes the Forwarder it made and unregisters its metrics. A
// node serves once: after Shutdown, Start, Serve and Shutdown return
// ErrNodeClosed. Shutdown is also how a node that never started (or failed
// to) gives back its pool: call it in every case.
//
// # Goroutines
//
// Start starts two goroutines, one per port, each running that server's
// Serve (gnet's event loops, its ticker and the server's drain watcher run
// under it), and one that waits for both ports to be ready. The handler's
// pool runs look-ups on up to PoolSize workers, and a batch's forwarded
// requests on helper goroutines (package handler). Shutdown returns after
// the ports' goroutines have returned and the pool's workers have exited
// (unless its ctx ends first: then connections are closed at once and the
// pool is left to finish on its own). Nothing else is started.
//
// An embedding task may, from any goroutine and concurrently with the
// node serving: update its states (package state's writers are safe
// against concurrent queries), register and unregister states in the
// registry (registry's operations are safe for concurrent use, and
// queries see each registration whole or not at all), call Ready, Addrs,
// Handler, Servers, and Shutdown (once or more). Start and Serve are
// meant to be called once, by the goroutine that owns the node.
//
// # Ownership
//
// No []byte crosses this package's API. The registry, Directory, Forwarder
// and Registerer stay the caller's: the node reads them while it serves,
// closes none of them, and unregisters only its own collector.
//
// # Invariants the tests cite
//
//   - N1: Validate reports every problem at once, each wrapping ErrConfig
//     and naming its field (TestValidateNamesFields).
//   - N2: a started node answers both ports over TCP from its registry,
//     the proxy port through Flink's location, key group and owner look-up
//     (TestServesBothPorts).
//   - N3: Shutdown answers what was dispatched before it, refuses new
//     connections, leaves no goroutine behind and returns ErrNodeClosed
//     when called again, as Start and Serve do (TestShutdownAnswersInFlight,
//     TestLifecycleErrors, goleak in TestMain).
//   - N4: a port that cannot bind fails Start with the server's error and
//     the other port is stopped (TestStartPortInUse).
//   - N5: Serve returns when its ctx ends, after a graceful Shutdown
//     (TestServeUntilCancelled).
//   - N6: with a Registerer, the node's counters are gathered from it and
//     are unregistered by Shutdown (TestMetricsRegistered).
//   - N7: a forwarded request whose owner never answers fails at its
//     deadline, Config.RequestTimeout, never later; with Directory the node
//     forwards through its own cluster.Forwarder and closes it in Shutdown
//     (TestDeadOwnerCostsTheDeadline, TestForwarderAndDirectory).
package node
