package bench

import (
	"context"
	"testing"

	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/handler"
	"github.com/qstate/qstate/internal/qstatetest"
	"github.com/qstate/qstate/node"
	"github.com/qstate/qstate/registry"
)

// startStack runs qstate for real, in process: the synthetic dataset in a
// registry served by a node (package node: the handler and one gnet server
// per port, proxy and state server, on free loopback ports), as `qstate
// serve --dataset synthetic` starts it. It returns the proxy address, the
// state-server address and the synthetic KvStateID; the node is shut down
// at cleanup.
func startStack(t *testing.T, keys, valueSize int, d handler.Dispatch) (proxy, stateServer, kvStateID string) {
	t.Helper()
	r := registry.New()
	if err := dataset.RegisterSynthetic(r, keys, valueSize); err != nil {
		t.Fatal(err)
	}
	n, err := node.New(r, node.Config{Dispatch: d})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), qstatetest.Timeout)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("node Shutdown: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), qstatetest.Timeout)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatalf("node Start: %v", err)
	}
	p, s := n.Addrs()
	id, ok := dataset.SyntheticKvStateID(r)
	if !ok {
		t.Fatal("no KvStateID for the synthetic state")
	}
	return p.String(), s.String(), id.String()
}

// TestRealServer drives the real qstate stack (registry, handler, gnet
// servers, synthetic dataset) through both ports and both dispatch modes:
// exactly N completed, values verified byte for byte, keys beyond the
// dataset counted as UnknownKeyOrNamespaceException.
func TestRealServer(t *testing.T) {
	for _, d := range []handler.Dispatch{handler.Pool, handler.Inline} {
		t.Run(d.String(), func(t *testing.T) {
			proxy, stateServer, kvID := startStack(t, 1000, 64, d)

			cfg := quick(proxy)
			cfg.Keys, cfg.ValueSize, cfg.Requests, cfg.Verify = 1000, 64, 10000, true
			rep := mustRun(t, cfg)
			if rep.Completed != 10000 || rep.OK != 10000 || rep.ErrorTotal != 0 {
				t.Errorf("proxy: completed %d ok %d errors %v (%s)", rep.Completed, rep.OK, rep.Errors, rep.FirstConnError)
			}
			checkI2(t, rep)

			cfg.Keys = 1500 // a third beyond the dataset
			rep = mustRun(t, cfg)
			misses := rep.ErrClass(KindRequestFailure, classUnknownKey)
			if misses == 0 || rep.OK+misses != 10000 || rep.ErrorTotal != misses {
				t.Errorf("missing keys: ok %d errors %v", rep.OK, rep.Errors)
			}
			checkI2(t, rep)

			icfg := quick(stateServer)
			icfg.Internal, icfg.KvStateID = true, kvID
			icfg.Keys, icfg.ValueSize, icfg.Requests, icfg.Verify = 1000, 64, 5000, true
			rep = mustRun(t, icfg)
			if rep.OK != 5000 || rep.ErrorTotal != 0 || rep.Request != "KvStateInternalRequest" {
				t.Errorf("state server: ok %d errors %v (%s)", rep.OK, rep.Errors, rep.FirstConnError)
			}
			checkI2(t, rep)
		})
	}
}
