package handler

import (
	"context"
	"errors"
	"testing"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/internal/qstatetest"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/state"
)

// TestResultsByKind: every answer is counted under exactly one Result,
// the one its failure class says, and the counts add up to Requests.
func TestResultsByKind(t *testing.T) {
	r := registry.New()
	if err := dataset.RegisterSynthetic(r, testKeys, testValueSize); err != nil {
		t.Fatal(err)
	}
	// "remote": every key group on another node, answered by the forwarder.
	if err := r.RegisterRemote(syntheticJob, "remote", registry.KeyGroupRange{Start: 0, End: 127}, 128, registry.NewKvStateID(), "10.0.0.2:9067"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Register(syntheticJob, "bad", registry.KeyGroupRange{Start: 0, End: 127}, 128, panickyState{}); err != nil {
		t.Fatal(err)
	}
	fwd := &fakeForwarder{}
	h, _ := newHandler(t, Config{Registry: r, Forwarder: fwd})
	kvID, ok := dataset.SyntheticKvStateID(r)
	if !ok {
		t.Fatal("no synthetic KvStateID")
	}
	req := func(id int64, name string, kn []byte) []byte {
		return codec.AppendKvStateRequestFrame(nil, id, codec.KvStateRequest{JobID: syntheticJob, StateName: []byte(name), KeyAndNamespace: kn})
	}
	internal := func(id int64, kv registry.KvStateID, kn []byte) []byte {
		return codec.AppendKvStateInternalRequestFrame(nil, id, codec.KvStateInternalRequest{KvStateID: kv, KeyAndNamespace: kn})
	}
	truncated := proxyFrame(8, 1)
	truncated = truncated[:len(truncated)-3]
	truncated[3] -= 3 // length prefix (< 256)
	longKey := state.AppendKeyAndNamespace(nil, state.Long, int64(5), state.Void, state.VoidNamespace{})

	cases := []struct {
		name  string
		ep    *Endpoint
		fwd   error // the forwarder's answer, for "remote"
		frame []byte
		want  Result
	}{
		{"found", h.Proxy(), nil, proxyFrame(1, 1), ResultOK},
		{"missing", h.Proxy(), nil, proxyFrame(2, testKeys+5), ResultMissingKey},
		{"unknown-name", h.Proxy(), nil, req(3, "nope", intKey(0)), ResultUnknownState},
		{"truncated", h.Proxy(), nil, truncated, ResultBadRequest},
		{"bad-key-bytes", h.Proxy(), nil, req(4, dataset.SyntheticState, longKey), ResultError},
		{"forwarded", h.Proxy(), nil, req(5, "remote", intKey(0)), ResultOK},
		{"forwarded-missing", h.Proxy(), codec.NewUnknownKeyOrNamespace(codec.ServerName), req(6, "remote", intKey(0)), ResultMissingKey},
		{"forwarded-unknown-id", h.Proxy(), codec.NewUnknownKvStateID(codec.ServerName, registry.KvStateID{1}), req(7, "remote", intKey(0)), ResultUnknownState},
		{"forwarded-io-error", h.Proxy(), errors.New("connection refused"), req(9, "remote", intKey(0)), ResultError},
		{"panic", h.Proxy(), nil, req(10, "bad", intKey(0)), ResultError},
		{"state-found", h.StateServer(), nil, internal(11, kvID, intKey(3)), ResultOK},
		{"state-missing", h.StateServer(), nil, internal(12, kvID, intKey(testKeys)), ResultMissingKey},
		{"state-unknown-id", h.StateServer(), nil, internal(13, registry.KvStateID{9}, intKey(3)), ResultUnknownState},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fwd.err = tc.fwd
			fwd.content = []byte{0, 0, 0, 1, 7}
			before := tc.ep.Stats()
			serve(t, tc.ep, tc.frame)
			after := tc.ep.Stats()
			for k := range NumResults {
				want := before.Results[k]
				if k == tc.want {
					want++
				}
				if after.Results[k] != want {
					t.Errorf("Results[%v] = %d, want %d", k, after.Results[k], want)
				}
			}
		})
	}
	for _, ep := range []*Endpoint{h.Proxy(), h.StateServer()} {
		st := ep.Stats()
		var sum int64
		for _, n := range st.Results {
			sum += n
		}
		if sum != st.Requests || st.Results[ResultOK] != st.Successful {
			t.Errorf("%v: results %v add up to %d, requests %d, successful %d", ep.Port(), st.Results, sum, st.Requests, st.Successful)
		}
	}

	// After Close, batches are refused as shutting down.
	if err := h.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	serve(t, h.Proxy(), proxyFrame(20, 1), proxyFrame(21, 2))
	if got := h.Proxy().Stats().Results[ResultShutdown]; got != 2 {
		t.Errorf("Results[shutdown] = %d, want 2", got)
	}
}

// TestResultsOverload: a batch the full pool refuses counts each of its
// requests as ResultOverload.
func TestResultsOverload(t *testing.T) {
	h, bs, slowDone := busyPool(t)
	serve(t, h.Proxy(), proxyFrame(1, 1), proxyFrame(2, 2), proxyFrame(3, 3))
	bs.Release()
	putBuf(qstatetest.Recv(t, slowDone, qstatetest.Timeout, "the slow answer"))
	st := h.Proxy().Stats()
	if st.Results[ResultOverload] != 3 || st.Results[ResultOK] != 1 || st.Overloaded != 3 {
		t.Fatalf("results %v, overloaded %d", st.Results, st.Overloaded)
	}
}

func TestResultString(t *testing.T) {
	want := []string{"ok", "missing_key", "unknown_state", "unknown_key_group", "bad_request", "error", "overload", "shutdown"}
	if len(want) != int(NumResults) {
		t.Fatalf("%d names for %d results", len(want), NumResults)
	}
	for r, w := range want {
		if got := Result(r).String(); got != w {
			t.Errorf("Result(%d) = %q, want %q", r, got, w)
		}
	}
	if got := NumResults.String(); got != "Result(8)" {
		t.Errorf("NumResults.String() = %q", got)
	}
}
