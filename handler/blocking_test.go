package handler

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/internal/qstatetest"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/state"
)

// diskState is a fake state on disk: an Appender whose look-ups may block
// (they wait for release when it is set) and fail for key 13.
type diskState struct {
	blocks  bool
	entered chan struct{}     // nil: do not report
	release chan struct{}     // nil: do not wait
	size    func(k int32) int // nil: key k's value is k, 0xd1, 0x5c; else size(k) bytes of k
}

var errDisk = errors.New("read /data/000123.sst: input/output error")

func (d *diskState) Get(kn []byte) ([]byte, bool, error) { return d.AppendGet(nil, kn) }

func (d *diskState) AppendGet(dst, kn []byte) ([]byte, bool, error) {
	if d.entered != nil {
		d.entered <- struct{}{}
	}
	if d.release != nil {
		<-d.release
	}
	k, _, err := state.ReadKeyAndNamespace(state.Int, state.Void, kn)
	if err != nil {
		return dst, false, err
	}
	if k == 13 {
		return dst, false, errDisk
	}
	if d.size != nil {
		start, n := len(dst), d.size(k)
		if cap(dst)-start < n { // grown as append grows it for a large value: exactly
			dst = append(make([]byte, 0, start+n), dst...)
		}
		dst = dst[:start+n]
		for i := start; i < len(dst); i++ {
			dst[i] = byte(k)
		}
		return dst, true, nil
	}
	return append(dst, byte(k), 0xd1, 0x5c), true, nil
}

func (d *diskState) MayBlock() bool { return d.blocks }

func diskFrame(id int64, k int32) []byte {
	return codec.AppendKvStateRequestFrame(nil, id, codec.KvStateRequest{
		JobID: syntheticJob, StateName: []byte("disk"), KeyHash: k, KeyAndNamespace: intKey(k)})
}

func registryWithDisk(t *testing.T, d *diskState) *registry.Registry {
	t.Helper()
	r := registry.New()
	if err := dataset.RegisterSynthetic(r, testKeys, testValueSize); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Register(syntheticJob, "disk", registry.KeyGroupRange{Start: 0, End: 127}, 128, d); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestBlockingLookupsLeaveTheEventLoop: with Inline dispatch, a batch that
// reaches a state whose look-ups may block is handed to the pool at that
// request: ServeBatch returns while the look-up still waits (it does not
// run on the caller's goroutine), and every request of the batch, before
// and after, is answered in order once it completes (H8).
func TestBlockingLookupsLeaveTheEventLoop(t *testing.T) {
	ds := &diskState{blocks: true, entered: make(chan struct{}, 4), release: make(chan struct{})}
	h, _ := newHandler(t, Config{Registry: registryWithDisk(t, ds), Dispatch: Inline, PoolSize: 2})
	if _, capacity := h.PoolStats(); capacity != 0 {
		t.Fatalf("inline handler made a pool before it needed one (%d)", capacity)
	}
	reqs := bytes.Join([][]byte{proxyFrame(1, 1), diskFrame(2, 5), proxyFrame(3, 2), diskFrame(4, 6)}, nil)
	outc := make(chan []byte, 1)
	returned := make(chan struct{})
	go func() {
		h.Proxy().ServeBatch(reqs, 4, func(out []byte) { outc <- out })
		close(returned)
	}()
	select {
	case <-returned: // the loop is free while the disk look-up waits
	case <-time.After(10 * time.Second):
		t.Fatal("ServeBatch ran a blocking look-up on the caller's goroutine")
	}
	select {
	case <-ds.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the blocking look-up never started on a worker")
	}
	if running, capacity := h.PoolStats(); running != 1 || capacity != 2 {
		t.Fatalf("pool %d running of %d, want 1 of 2", running, capacity)
	}
	close(ds.release)
	var out []byte
	select {
	case out = <-outc:
	case <-time.After(10 * time.Second):
		t.Fatal("batch not answered")
	}
	var ids []int64
	for b := out; len(b) > 0; {
		f, n, err := codec.DecodeFrame(b, 0)
		if err != nil || f.Type != codec.RequestResult {
			t.Fatalf("answer %v %v", f.Type, err)
		}
		content, _ := codec.DecodeKvStateResponse(f.Body)
		var want []byte
		switch f.RequestID {
		case 1, 3:
			want = state.Bytes.Append(nil, dataset.SyntheticValue(nil, int(f.RequestID+1)/2, testValueSize))
		case 2:
			want = []byte{5, 0xd1, 0x5c}
		case 4:
			want = []byte{6, 0xd1, 0x5c}
		}
		if !bytes.Equal(content, want) {
			t.Fatalf("id %d: %x, want %x", f.RequestID, content, want)
		}
		ids = append(ids, f.RequestID)
		b = b[n:]
	}
	if len(ids) != 4 || ids[0] != 1 || ids[1] != 2 || ids[2] != 3 || ids[3] != 4 {
		t.Fatalf("answers in order %v", ids)
	}
	putBuf(out)
}

// TestBlockingOverload: with the pool full, a batch that needs it for a
// blocking look-up is refused with the overload failure (inline dispatch
// too), each of its requests answered once, already-looked-up ones
// included.
func TestBlockingOverload(t *testing.T) {
	ds := &diskState{blocks: true, entered: make(chan struct{}, 1), release: make(chan struct{})}
	h, _ := newHandler(t, Config{Registry: registryWithDisk(t, ds), Dispatch: Inline, PoolSize: 1})
	first := make(chan []byte, 1)
	h.Proxy().ServeBatch(diskFrame(1, 1), 1, func(out []byte) { first <- out })
	qstatetest.Recv(t, ds.entered, qstatetest.Timeout, "the only worker waiting on the disk")
	answers, early := serve(t, h.Proxy(), proxyFrame(2, 2), diskFrame(3, 3))
	if !early {
		t.Fatal("the refused batch was not answered at once")
	}
	for id, f := range answers {
		if exc := failure(t, f); !strings.Contains(exc.Message, "overloaded") {
			t.Fatalf("id %d: %q", id, exc.Message)
		}
	}
	close(ds.release)
	putBuf(<-first)
	if st := h.Proxy().Stats(); st.Overloaded != 2 || st.Successful != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestAppenderFailureFailsOneRequest: a look-up that fails (a disk read
// error) answers its request with a failure saying why; the batch's other
// requests are answered with their values.
func TestAppenderFailureFailsOneRequest(t *testing.T) {
	for _, d := range []Dispatch{Pool, Inline} {
		ds := &diskState{blocks: true}
		h, _ := newHandler(t, Config{Registry: registryWithDisk(t, ds), Dispatch: d})
		answers, _ := serve(t, h.Proxy(), diskFrame(1, 12), diskFrame(2, 13), diskFrame(3, 14))
		for _, id := range []int64{1, 3} {
			if c, _ := codec.DecodeKvStateResponse(answers[id].Body); answers[id].Type != codec.RequestResult || c[0] != byte(11+id) {
				t.Fatalf("%v id %d: %v %x", d, id, answers[id].Type, c)
			}
		}
		if exc := failure(t, answers[2]); !strings.Contains(exc.Message, errDisk.Error()) {
			t.Fatalf("%v: failure %q", d, exc.Message)
		}
		if st := h.Proxy().Stats(); st.Results[ResultError] != 1 || st.Successful != 2 {
			t.Fatalf("%v: stats %+v", d, st)
		}
	}
}
