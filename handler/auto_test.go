package handler

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/qstate/qstate/bufpool"
	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/state"
)

// gateForwarder answers every forward with its key hash once release is
// closed, reporting each call on entered.
type gateForwarder struct {
	entered chan struct{}
	release chan struct{}
}

func (f *gateForwarder) Forward(_ context.Context, _ registry.Owner, _ registry.JobID, _ []byte, keyHash int32, _ []byte) ([]byte, error) {
	f.entered <- struct{}{}
	<-f.release
	return append(bufpool.Get(1), byte(keyHash)), nil
}

// TestAutoDispatch: with Auto dispatch a lone request to a heap state is
// answered on the caller's goroutine (the event loop) before ServeBatch
// returns, while a lone request to a state whose look-ups may block, and
// a lone request forwarded to another node, leave it: ServeBatch returns
// while they wait, and they are answered from the pool.
func TestAutoDispatch(t *testing.T) {
	ds := &diskState{blocks: true, entered: make(chan struct{}, 1), release: make(chan struct{})}
	r := registryWithDisk(t, ds)
	if err := r.RegisterRemote(syntheticJob, "far", registry.KeyGroupRange{Start: 0, End: 127}, 128, registry.NewKvStateID(), "10.0.0.9:9067"); err != nil {
		t.Fatal(err)
	}
	fw := &gateForwarder{entered: make(chan struct{}, 1), release: make(chan struct{})}
	h, _ := newHandler(t, Config{Registry: r, Dispatch: Auto, Forwarder: fw})

	for k := range int32(5) {
		answers, early := serve(t, h.Proxy(), proxyFrame(int64(k), k))
		if !early {
			t.Fatalf("key %d: a lone heap look-up was not answered before ServeBatch returned", k)
		}
		got, _ := codec.DecodeKvStateResponse(answers[int64(k)].Body)
		if want := state.Bytes.Append(nil, dataset.SyntheticValue(nil, int(k), testValueSize)); !bytes.Equal(got, want) {
			t.Fatalf("key %d: %x, want %x", k, got, want)
		}
	}

	far := codec.AppendKvStateRequestFrame(nil, 7, codec.KvStateRequest{JobID: syntheticJob, StateName: []byte("far"), KeyHash: 9, KeyAndNamespace: intKey(9)})
	for _, c := range []struct {
		name    string
		frame   []byte
		entered chan struct{}
		release chan struct{}
		want    []byte
	}{
		{"blocking state", diskFrame(5, 4), ds.entered, ds.release, []byte{4, 0xd1, 0x5c}},
		{"forward", far, fw.entered, fw.release, []byte{9}},
	} {
		outc := make(chan []byte, 1)
		returned := make(chan struct{})
		go func() {
			h.Proxy().ServeBatch(c.frame, 1, func(out []byte) { outc <- out })
			close(returned)
		}()
		for _, w := range []struct {
			ch   <-chan struct{}
			what string
		}{{returned, "ServeBatch to return"}, {c.entered, "the look-up to start on a worker"}} {
			select {
			case <-w.ch:
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: waited 10 s for %s (did it run on the caller's goroutine?)", c.name, w.what)
			}
		}
		close(c.release)
		select {
		case out := <-outc:
			f, _, err := codec.DecodeFrame(out, 0)
			got, _ := codec.DecodeKvStateResponse(f.Body)
			if err != nil || f.Type != codec.RequestResult || !bytes.Equal(got, c.want) {
				t.Fatalf("%s: %v %x %v, want %x", c.name, f.Type, got, err, c.want)
			}
			putBuf(out)
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: not answered", c.name)
		}
	}
}
