package handler

import (
	"context"
	"testing"
	"time"

	"github.com/qstate/qstate/bufpool"
	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/internal/qstatetest"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/server"
)

// stalledForwarder is an owner that does not answer until released (a
// stopped node whose forward waits for its timeout).
type stalledForwarder struct {
	release chan struct{}
}

func (f *stalledForwarder) Forward(context.Context, registry.Owner, registry.JobID, []byte, int32, []byte) ([]byte, error) {
	<-f.release
	return append(bufpool.Get(3), 7, 8, 9), nil
}

// TestLocalAnswerNotHeldByForward: a request for a key the node holds,
// sent in the same write as one for a key of a stalled owner, is answered
// at once (within 100 ms), while the forwarded one waits for its owner;
// then the forwarded one is answered too, on the same connection.
func TestLocalAnswerNotHeldByForward(t *testing.T) {
	reg := registry.New()
	if err := dataset.RegisterSynthetic(reg, testKeys, testValueSize); err != nil {
		t.Fatal(err)
	}
	if err := reg.RegisterRemote(syntheticJob, "far", registry.KeyGroupRange{Start: 0, End: 127}, 128,
		registry.NewKvStateID(), "127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	fw := &stalledForwarder{release: make(chan struct{})}
	released := false
	release := func() {
		if !released {
			released = true
			close(fw.release)
		}
	}
	t.Cleanup(release) // before the node's cleanup (cleanups run last first)
	n := startNode(t, Config{Registry: reg, Forwarder: fw}, server.Config{})
	t.Cleanup(release)
	c := dialAddr(t, n.proxy.Addr())
	far := codec.AppendKvStateRequestFrame(nil, 1, codec.KvStateRequest{JobID: syntheticJob,
		StateName: []byte("far"), KeyHash: 3, KeyAndNamespace: intKey(3)})
	for round := range 3 {
		id := int64(10 + round)
		start := time.Now()
		if _, err := c.Write(append(append([]byte(nil), far...), proxyFrame(id, 5)...)); err != nil {
			t.Fatal(err)
		}
		f, _ := readFrame(t, c)
		took := time.Since(start)
		if f.Type != codec.RequestResult || f.RequestID != id {
			t.Fatalf("round %d: first answer %v for request %d, want the local key's (%d)", round, f.Type, f.RequestID, id)
		}
		if took > 100*time.Millisecond {
			t.Fatalf("round %d: the local answer took %v while the other request's owner stalled, want < 100ms", round, took)
		}
		t.Logf("round %d: local answer after %v", round, took)
		if round < 2 {
			continue
		}
		release()
		for range 3 { // the three forwards, answered once their owner does
			f, _ := readFrame(t, c)
			if f.Type != codec.RequestResult || f.RequestID != 1 {
				t.Fatalf("after release: %v for request %d, want the forward's result", f.Type, f.RequestID)
			}
			if got, _ := codec.DecodeKvStateResponse(f.Body); string(got) != "\x07\x08\x09" {
				t.Fatalf("forwarded content %x", got)
			}
		}
	}
}

// TestIdleWorkersExpire: after a burst that keeps many pool workers busy,
// the idle ones expire within about two PoolExpiry periods (ants purges
// once a period), so a burst's goroutines do not linger.
func TestIdleWorkersExpire(t *testing.T) {
	const expiry = 100 * time.Millisecond
	fw := &stalledForwarder{release: make(chan struct{})}
	reg := registry.New()
	if err := reg.RegisterRemote(syntheticJob, "far", registry.KeyGroupRange{Start: 0, End: 127}, 128,
		registry.NewKvStateID(), "127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	h, _ := newHandler(t, Config{Registry: reg, Forwarder: fw, PoolExpiry: expiry})
	far := codec.AppendKvStateRequestFrame(nil, 1, codec.KvStateRequest{JobID: syntheticJob,
		StateName: []byte("far"), KeyHash: 3, KeyAndNamespace: intKey(3)})
	const burst = 50
	done := make(chan struct{}, burst)
	for range burst { // each batch holds a worker until its owner answers
		h.Proxy().ServeBatch(far, 1, func(out []byte) { bufpool.Put(out); done <- struct{}{} })
	}
	if running, _ := h.PoolStats(); running != burst {
		t.Fatalf("%d workers running during the burst, want %d", running, burst)
	}
	close(fw.release)
	for range burst {
		qstatetest.Recv(t, done, 10*time.Second, "a batch answered")
	}
	start := time.Now()
	qstatetest.Eventually(t, 20*expiry+time.Second, func() bool { running, _ := h.PoolStats(); return running == 0 },
		"idle workers expired")
	t.Logf("%d idle workers expired %v after the burst (PoolExpiry %v)", burst, time.Since(start), expiry)
}
