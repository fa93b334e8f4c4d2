// Package servertest starts qstate's real network front end (server.Server)
// for the tests of the packages above it (handler, cluster, metrics, bench,
// node), records its connections' states, so that tests wait on them, and
// makes the Go client that queries it.
//
// It is for tests only: nothing in the product imports it. server's own
// tests cannot use it (it imports server); they start theirs with
// qstatetest.Serve, as Start does.
//
// Goroutines: Start runs Serve on a goroutine of its own, which ends when
// the server is stopped (by the returned function, from any goroutine, or
// at the test's cleanup, in reverse order of starting, as t.Cleanup runs).
// Conns records events from the servers' event loops; the test waits on
// them. No byte slice crosses the package.
package servertest
