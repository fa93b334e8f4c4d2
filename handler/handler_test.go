package handler

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/qstate/qstate/bufpool"
	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/internal/qstatetest"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/state"
)

const (
	testKeys      = 1000
	testValueSize = 8
)

var syntheticJob, _ = registry.ParseJobID(dataset.SyntheticJobID)

// newHandler returns a handler over a registry holding the synthetic
// dataset (1000 keys of 8 bytes), closed at cleanup.
func newHandler(t testing.TB, cfg Config) (*Handler, *registry.Registry) {
	t.Helper()
	if cfg.Registry == nil {
		cfg.Registry = registry.New()
		if err := dataset.RegisterSynthetic(cfg.Registry, testKeys, testValueSize); err != nil {
			t.Fatal(err)
		}
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	qstatetest.CloseAtCleanup(t, "handler", h)
	return h, cfg.Registry
}

// intKey is the key and namespace of Integer key k.
func intKey(k int32) []byte {
	return state.AppendKeyAndNamespace(nil, state.Int, k, state.Void, state.VoidNamespace{})
}

// proxyFrame is a KvStateRequest frame for Integer key k of the synthetic state.
func proxyFrame(id int64, k int32) []byte {
	return codec.AppendKvStateRequestFrame(nil, id, codec.KvStateRequest{
		JobID: syntheticJob, StateName: []byte(dataset.SyntheticState), KeyHash: k, KeyAndNamespace: intKey(k),
	})
}

// serve runs one batch through ep and returns the answers, keyed by id;
// early reports whether done came before ServeBatch returned.
func serve(t testing.TB, ep *Endpoint, frames ...[]byte) (answers map[int64]codec.Frame, early bool) {
	t.Helper()
	reqs := bytes.Join(frames, nil)
	outc := make(chan []byte, 1)
	returned := make(chan struct{})
	var earlyFlag bool
	ep.ServeBatch(reqs, len(frames), func(out []byte) {
		select {
		case <-returned:
		default:
			earlyFlag = true
		}
		outc <- out
	})
	close(returned)
	var out []byte
	select {
	case out = <-outc:
	case <-time.After(10 * time.Second):
		t.Fatal("batch not answered")
	}
	answers = make(map[int64]codec.Frame)
	for b := out; len(b) > 0; {
		f, n, err := codec.DecodeFrame(b, 0)
		if err != nil || n == 0 {
			t.Fatalf("bad answer frame: %v", err)
		}
		f.Body = bytes.Clone(f.Body)
		if _, dup := answers[f.RequestID]; dup {
			t.Fatalf("two answers for id %d", f.RequestID)
		}
		answers[f.RequestID] = f
		b = b[n:]
	}
	if len(answers) != len(frames) {
		t.Fatalf("%d answers for %d requests", len(answers), len(frames))
	}
	return answers, earlyFlag
}

// failure decodes a REQUEST_FAILURE answer.
func failure(t testing.TB, f codec.Frame) *codec.JavaException {
	t.Helper()
	if f.Type != codec.RequestFailure {
		t.Fatalf("id %d: %v, want REQUEST_FAILURE", f.RequestID, f.Type)
	}
	exc, err := codec.DecodeFailure(f)
	if err != nil {
		t.Fatal(err)
	}
	return exc
}

func TestProxyValues(t *testing.T) {
	for _, d := range []Dispatch{Pool, Inline} {
		t.Run(d.String(), func(t *testing.T) {
			h, _ := newHandler(t, Config{Dispatch: d})
			var frames [][]byte
			for i := range 64 {
				frames = append(frames, proxyFrame(int64(i), int32(i*15)))
			}
			answers, early := serve(t, h.Proxy(), frames...)
			if d == Inline && !early {
				t.Error("inline dispatch answered after ServeBatch returned")
			}
			for i := range 64 {
				f := answers[int64(i)]
				got, err := codec.DecodeKvStateResponse(f.Body)
				want := state.Bytes.Append(nil, dataset.SyntheticValue(nil, i*15, testValueSize))
				if f.Type != codec.RequestResult || err != nil || !bytes.Equal(got, want) {
					t.Fatalf("id %d: %v %x, want %x", i, f.Type, got, want)
				}
			}
			st := h.Proxy().Stats()
			if st.Requests != 64 || st.Successful != 64 || st.Failed != 0 || st.AverageLatency() <= 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestProxyFailures: each failure is the Flink exception, with Flink's
// text, that a Flink proxy (in a TaskManager) sends.
func TestProxyFailures(t *testing.T) {
	r := registry.New()
	if err := dataset.RegisterSynthetic(r, testKeys, testValueSize); err != nil {
		t.Fatal(err)
	}
	// A state that owns only key groups 0..9 of 128, and a remote range.
	partial := state.NewValueState(state.Int, state.Void, state.Long)
	if _, err := r.Register(syntheticJob, "partial", registry.KeyGroupRange{Start: 0, End: 9}, 128, partial); err != nil {
		t.Fatal(err)
	}
	if err := r.RegisterRemote(syntheticJob, "partial", registry.KeyGroupRange{Start: 10, End: 127}, 128, registry.NewKvStateID(), "10.0.0.2:9067"); err != nil {
		t.Fatal(err)
	}
	h, _ := newHandler(t, Config{Registry: r})

	req := func(id int64, job registry.JobID, name string, hash int32, kn []byte) []byte {
		return codec.AppendKvStateRequestFrame(nil, id, codec.KvStateRequest{JobID: job, StateName: []byte(name), KeyHash: hash, KeyAndNamespace: kn})
	}
	longKey := state.AppendKeyAndNamespace(nil, state.Long, int64(5), state.Void, state.VoidNamespace{})
	negName := proxyFrame(7, 1)
	binary.BigEndian.PutUint32(negName[codec.LengthLen+codec.HeaderLen+codec.RequestIDLen+16:], 0xffffffff)
	truncated := proxyFrame(8, 1)
	truncated = append(truncated[:len(truncated)-3:len(truncated)-3], []byte{}...)
	binary.BigEndian.PutUint32(truncated, uint32(len(truncated)-4))
	otherJob := registry.JobID{0xff}
	// A hash whose key group is in 10..127 (remote) and one in 0..9 (local, missing).
	var remoteHash, localHash int32 = -1, -1
	for hsh := int32(0); remoteHash < 0 || localHash < 0; hsh++ {
		if kg := registry.KeyGroupForHash(hsh, 128); kg >= 10 && remoteHash < 0 {
			remoteHash = hsh
		} else if kg < 10 && localHash < 0 {
			localHash = hsh
		}
	}

	cases := []struct {
		name    string
		frame   []byte
		class   string
		message string
		is      error
	}{
		{"missing-key", proxyFrame(1, 1005), "org.apache.flink.queryablestate.exceptions.UnknownKeyOrNamespaceException",
			"Queryable State Server : No state for the specified key/namespace.", codec.ErrUnknownKeyOrNamespace},
		{"unknown-job", req(2, otherJob, "state", 0, intKey(0)), "java.lang.RuntimeException",
			"Failed request 2.\n Caused by: org.apache.flink.queryablestate.exceptions.UnknownLocationException: Could not retrieve location of state=state of job=ff000000000000000000000000000000. Potential reasons are: i) the state is not ready, or ii) the job does not exist.\n",
			codec.ErrUnknownLocation},
		{"unknown-state", req(3, syntheticJob, "nope", 0, intKey(0)), "java.lang.RuntimeException",
			"Failed request 3.\n Caused by: org.apache.flink.queryablestate.exceptions.UnknownLocationException: Could not retrieve location of state=nope of job=00112233445566778899aabbccddeeff. Potential reasons are: i) the state is not ready, or ii) the job does not exist.\n",
			codec.ErrUnknownLocation},
		{"long-key-for-int-state", req(4, syntheticJob, "state", 5, longKey), "java.lang.RuntimeException",
			"Failed request 4.\n Caused by: java.lang.RuntimeException: Error while processing request with ID 4. Caused by: java.io.IOException: " + state.BadKeyAndNamespaceMessage + "\n\n", nil},
		{"remote-owner", req(5, syntheticJob, "partial", remoteHash, intKey(remoteHash)),
			"org.apache.flink.queryablestate.exceptions.UnknownKvStateKeyGroupLocationException",
			"Queryable State Proxy Server : Unknown key-group location.", codec.ErrUnknownKvStateKeyGroupLocation},
		{"local-partial-missing", req(6, syntheticJob, "partial", localHash, intKey(localHash)),
			"org.apache.flink.queryablestate.exceptions.UnknownKeyOrNamespaceException",
			"Queryable State Server : No state for the specified key/namespace.", codec.ErrUnknownKeyOrNamespace},
		{"negative-name-length", negName, "java.lang.RuntimeException",
			"Failed incoming message. Caused by: java.lang.IllegalArgumentException: Negative length for state name. This indicates a serialization error.\n", nil},
		{"truncated-body", truncated, "org.apache.flink.queryablestate.network.BadRequestException", "", codec.ErrBadRequest},
	}
	var frames [][]byte
	for _, tc := range cases {
		frames = append(frames, tc.frame)
	}
	answers, _ := serve(t, h.Proxy(), frames...)
	for i, tc := range cases {
		f, _, err := codec.DecodeFrame(tc.frame, 0)
		if err != nil {
			t.Fatal(err)
		}
		exc := failure(t, answers[f.RequestID])
		if exc.Class != tc.class || tc.message != "" && exc.Message != tc.message {
			t.Errorf("%d %s: got %s %q\nwant %s %q", i, tc.name, exc.Class, exc.Message, tc.class, tc.message)
		}
		if tc.is != nil && !errors.Is(exc, tc.is) {
			t.Errorf("%s: %v is not %v", tc.name, exc, tc.is)
		}
	}
	if exc := failure(t, answers[8]); !strings.HasPrefix(exc.Message, "Queryable State Proxy Server : Malformed request body: ") {
		t.Errorf("truncated body: %q", exc.Message)
	}
	// The missing key's payload is the cached one, byte for byte.
	if !bytes.Equal(answers[1].Body, codec.UnknownKeyOrNamespacePayload(codec.ServerName)) {
		t.Error("missing key payload differs from the cached one")
	}
	if st := h.Proxy().Stats(); st.Failed != int64(len(cases)) || st.Successful != 0 {
		t.Errorf("stats %+v", st)
	}
}

// fakeForwarder answers for remote owners.
type fakeForwarder struct {
	content []byte
	err     error
	owner   registry.Owner
	job     registry.JobID
	name    string
	keyHash int32
	kn      []byte
}

func (f *fakeForwarder) Forward(_ context.Context, o registry.Owner, job registry.JobID, name []byte, keyHash int32, kn []byte) ([]byte, error) {
	f.owner, f.job, f.name, f.keyHash, f.kn = o, job, string(name), keyHash, bytes.Clone(kn)
	if f.err != nil {
		return nil, f.err
	}
	return append(bufpool.Get(len(f.content)), f.content...), nil
}

func TestForwarderSeam(t *testing.T) {
	r := registry.New()
	remoteID := registry.NewKvStateID()
	if err := r.RegisterRemote(syntheticJob, "far", registry.KeyGroupRange{Start: 0, End: 127}, 128, remoteID, "10.0.0.9:9067"); err != nil {
		t.Fatal(err)
	}
	fw := &fakeForwarder{content: []byte{1, 2, 3}}
	h, _ := newHandler(t, Config{Registry: r, Forwarder: fw})
	frame := codec.AppendKvStateRequestFrame(nil, 1, codec.KvStateRequest{JobID: syntheticJob, StateName: []byte("far"), KeyHash: 3, KeyAndNamespace: intKey(3)})
	answers, _ := serve(t, h.Proxy(), frame)
	if got, _ := codec.DecodeKvStateResponse(answers[1].Body); !bytes.Equal(got, fw.content) {
		t.Fatalf("forwarded content %x", got)
	}
	if fw.owner.ID != remoteID || fw.owner.Addr != "10.0.0.9:9067" || !bytes.Equal(fw.kn, intKey(3)) {
		t.Fatalf("forwarded to %+v with %x", fw.owner, fw.kn)
	}
	if fw.job != syntheticJob || fw.name != "far" || fw.keyHash != 3 {
		t.Fatalf("forwarded job %s, name %q, key hash %d; want the request's", fw.job, fw.name, fw.keyHash)
	}
	fw.err = codec.NewUnknownKeyOrNamespace(codec.ServerName)
	answers, _ = serve(t, h.Proxy(), frame)
	if exc := failure(t, answers[1]); !errors.Is(exc, codec.ErrUnknownKeyOrNamespace) || exc.Cause != nil {
		t.Fatalf("relayed failure %v", exc)
	}
	fw.err = errors.New("connection refused")
	answers, _ = serve(t, h.Proxy(), frame)
	if exc := failure(t, answers[1]); exc.Message != "Failed request 1.\n Caused by: java.lang.RuntimeException: connection refused\n" {
		t.Fatalf("wrapped failure %q", exc.Message)
	}
	if _, err := New(Config{Registry: r, RequestTimeout: -1}); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "RequestTimeout") {
		t.Fatalf("negative RequestTimeout: %v", err)
	}
	if _, err := New(Config{Registry: r, Forwarder: fw, Dispatch: Inline}); !errors.Is(err, ErrConfig) {
		t.Fatalf("Forwarder with Inline: %v", err)
	}
}

// concurrentForwarder answers each key with its hash after waiting, up to
// wait (2 s if zero), until `want` calls are in at once; it records the
// most it saw.
type concurrentForwarder struct {
	want     int64
	wait     time.Duration
	in, most atomic.Int64
	panicOn  int32 // key hash whose forward panics (0: none)
	all      chan struct{}
	once     sync.Once
}

func (f *concurrentForwarder) Forward(_ context.Context, _ registry.Owner, _ registry.JobID, _ []byte, keyHash int32, _ []byte) ([]byte, error) {
	n := f.in.Add(1)
	defer f.in.Add(-1)
	for m := f.most.Load(); n > m && !f.most.CompareAndSwap(m, n); m = f.most.Load() {
	}
	if n >= f.want {
		f.once.Do(func() { close(f.all) })
	}
	wait := f.wait
	if wait == 0 {
		wait = 2 * time.Second
	}
	select {
	case <-f.all:
	case <-time.After(wait): // not as many at once: answer anyway, the test checks most
	}
	if keyHash == f.panicOn {
		panic("forwarder bug")
	}
	return binary.BigEndian.AppendUint32(bufpool.Get(4), uint32(keyHash)), nil
}

// TestForwardsRunConcurrently: a batch's forwarded requests are forwarded
// at once, not one after the other; the local ones answer too, and every
// answer keeps its request id (H1, H6).
func TestForwardsRunConcurrently(t *testing.T) {
	r := registry.New()
	if err := r.RegisterRemote(syntheticJob, "far", registry.KeyGroupRange{Start: 0, End: 127}, 128, registry.NewKvStateID(), "10.0.0.9:9067"); err != nil {
		t.Fatal(err)
	}
	if err := dataset.RegisterSynthetic(r, testKeys, testValueSize); err != nil {
		t.Fatal(err)
	}
	const n = 12
	fw := &concurrentForwarder{want: n, all: make(chan struct{}), panicOn: 7}
	h, _ := newHandler(t, Config{Registry: r, Forwarder: fw})
	var frames [][]byte
	for i := range n {
		frames = append(frames, codec.AppendKvStateRequestFrame(nil, int64(2*i), codec.KvStateRequest{
			JobID: syntheticJob, StateName: []byte("far"), KeyHash: int32(100 + i), KeyAndNamespace: intKey(int32(i))}))
		frames = append(frames, proxyFrame(int64(2*i+1), int32(i)))
	}
	frames = append(frames, codec.AppendKvStateRequestFrame(nil, 99, codec.KvStateRequest{
		JobID: syntheticJob, StateName: []byte("far"), KeyHash: 7, KeyAndNamespace: intKey(7)}))
	answers, _ := serve(t, h.Proxy(), frames...)
	if len(answers) != 2*n+1 {
		t.Fatalf("%d answers, want %d", len(answers), 2*n+1)
	}
	for i := range n {
		got, err := codec.DecodeKvStateResponse(answers[int64(2*i)].Body)
		if err != nil || len(got) != 4 || binary.BigEndian.Uint32(got) != uint32(100+i) {
			t.Errorf("forwarded request %d: %x, %v", 2*i, got, err)
		}
		got, err = codec.DecodeKvStateResponse(answers[int64(2*i+1)].Body)
		if want := state.Bytes.Append(nil, dataset.SyntheticValue(nil, i, testValueSize)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("local request %d: %x, %v", 2*i+1, got, err)
		}
	}
	// A panicking Forwarder fails its own request only.
	if exc := failure(t, answers[99]); !strings.Contains(exc.Message, "Internal error while forwarding") {
		t.Errorf("panicking forward: %q", exc.Message)
	}
	if m := fw.most.Load(); m < n {
		t.Errorf("at most %d forwards at once, want all %d of the batch", m, n)
	}
}

// deadlineForwarder never answers by itself: it returns when ctx ends,
// and records ctx's deadline.
type deadlineForwarder struct {
	deadline time.Time
	ok       bool
}

func (f *deadlineForwarder) Forward(ctx context.Context, _ registry.Owner, _ registry.JobID, _ []byte, _ int32, _ []byte) ([]byte, error) {
	f.deadline, f.ok = ctx.Deadline()
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestForwardDeadline: a forward gets the request's deadline (RequestTimeout
// after ServeBatch) in its ctx, so a peer that never answers costs the
// request that deadline and the batch is answered then.
func TestForwardDeadline(t *testing.T) {
	r := registry.New()
	if err := r.RegisterRemote(syntheticJob, "far", registry.KeyGroupRange{Start: 0, End: 127}, 128, registry.NewKvStateID(), "10.0.0.9:9067"); err != nil {
		t.Fatal(err)
	}
	const timeout = 100 * time.Millisecond
	fw := &deadlineForwarder{}
	h, _ := newHandler(t, Config{Registry: r, Forwarder: fw, RequestTimeout: timeout})
	frame := codec.AppendKvStateRequestFrame(nil, 5, codec.KvStateRequest{JobID: syntheticJob, StateName: []byte("far"), KeyHash: 3, KeyAndNamespace: intKey(3)})
	start := time.Now()
	answers, _ := serve(t, h.Proxy(), frame)
	elapsed := time.Since(start)
	if !fw.ok || fw.deadline.Before(start.Add(timeout)) || fw.deadline.After(start.Add(timeout+time.Second)) {
		t.Errorf("forward's deadline %v (set %v), want about %v after the batch", fw.deadline.Sub(start), fw.ok, timeout)
	}
	if elapsed < timeout || elapsed > timeout+2*time.Second {
		t.Errorf("answered after %v, want about the request's deadline %v", elapsed, timeout)
	}
	if exc := failure(t, answers[5]); !strings.Contains(exc.Message, "deadline exceeded") {
		t.Errorf("failure %q does not say the deadline passed", exc.Message)
	}
}

// TestForwardHelpersBounded: helper goroutines never exceed PoolSize, so
// a batch's forwards run on its worker and at most PoolSize helpers.
func TestForwardHelpersBounded(t *testing.T) {
	r := registry.New()
	if err := r.RegisterRemote(syntheticJob, "far", registry.KeyGroupRange{Start: 0, End: 127}, 128, registry.NewKvStateID(), "10.0.0.9:9067"); err != nil {
		t.Fatal(err)
	}
	// 40 at once never comes: each forward takes 10 ms, overlapping as much as allowed.
	fw := &concurrentForwarder{want: 40, wait: 10 * time.Millisecond, all: make(chan struct{})}
	h, _ := newHandler(t, Config{Registry: r, Forwarder: fw, PoolSize: 1})
	var frames [][]byte
	for i := range 40 {
		frames = append(frames, codec.AppendKvStateRequestFrame(nil, int64(i), codec.KvStateRequest{
			JobID: syntheticJob, StateName: []byte("far"), KeyHash: int32(i + 1), KeyAndNamespace: intKey(int32(i))}))
	}
	answers, _ := serve(t, h.Proxy(), frames...)
	for i := range 40 {
		if got, err := codec.DecodeKvStateResponse(answers[int64(i)].Body); err != nil || binary.BigEndian.Uint32(got) != uint32(i+1) {
			t.Errorf("request %d: %x, %v", i, got, err)
		}
	}
	if m := fw.most.Load(); m > 2 {
		t.Errorf("%d forwards at once with PoolSize 1, want at most 2 (the worker and one helper)", m)
	}
	if n := h.fwdHelpers.Load(); n != 0 {
		t.Errorf("%d helpers still counted after the batch", n)
	}
}

func TestStatePort(t *testing.T) {
	h, r := newHandler(t, Config{})
	id, ok := dataset.SyntheticKvStateID(r)
	if !ok {
		t.Fatal("no synthetic KvStateID")
	}
	internal := func(reqID int64, kv registry.KvStateID, kn []byte) []byte {
		return codec.AppendKvStateInternalRequestFrame(nil, reqID, codec.KvStateInternalRequest{KvStateID: kv, KeyAndNamespace: kn})
	}
	unknown, _ := registry.ParseKvStateID("0123456789abcdef0123456789abcdef")
	negKv := internal(4, id, intKey(1))
	binary.BigEndian.PutUint32(negKv[codec.LengthLen+codec.HeaderLen+codec.RequestIDLen+16:], 0x80000000)
	answers, _ := serve(t, h.StateServer(),
		internal(1, id, intKey(7)), internal(2, id, intKey(-1)), internal(3, unknown, intKey(7)), negKv)
	if got, _ := codec.DecodeKvStateResponse(answers[1].Body); !bytes.Equal(got, state.Bytes.Append(nil, dataset.SyntheticValue(nil, 7, 8))) {
		t.Fatalf("key 7: %x", got)
	}
	if exc := failure(t, answers[2]); !errors.Is(exc, codec.ErrUnknownKeyOrNamespace) {
		t.Fatalf("missing key: %v", exc)
	}
	if exc := failure(t, answers[3]); exc.Message != "Queryable State Server : No registered state with ID 0123456789abcdef0123456789abcdef." ||
		!errors.Is(exc, codec.ErrUnknownKvStateID) {
		t.Fatalf("unknown id: %v", exc)
	}
	if exc := failure(t, answers[4]); !strings.Contains(exc.Message, "Negative length for key and namespace. This indicates a serialization error.") {
		t.Fatalf("negative length: %q", exc.Message)
	}
}

// registerSlow registers, in r, a qstatetest.BlockingState under the synthetic job
// and the name "slow" (key groups 0..127 of 128) and returns it.
func registerSlow(t testing.TB, r *registry.Registry) *qstatetest.BlockingState {
	t.Helper()
	bs := qstatetest.NewBlockingState([]byte{42}, 1)
	if _, err := r.Register(syntheticJob, "slow", registry.KeyGroupRange{Start: 0, End: 127}, 128, bs); err != nil {
		t.Fatal(err)
	}
	return bs
}

// newSlowHandler returns a handler over a registry that holds only the
// "slow" state, for tests that close the handler themselves.
func newSlowHandler(t testing.TB) (*Handler, *qstatetest.BlockingState) {
	t.Helper()
	r := registry.New()
	bs := registerSlow(t, r)
	h, err := New(Config{Registry: r})
	if err != nil {
		t.Fatal(err)
	}
	return h, bs
}

// slowFrame is a KvStateRequest frame for key 1 of the "slow" state.
func slowFrame(id int64) []byte {
	return codec.AppendKvStateRequestFrame(nil, id, codec.KvStateRequest{JobID: syntheticJob, StateName: []byte("slow"), KeyAndNamespace: intKey(1)})
}

// busyPool returns a handler over the synthetic dataset and a "slow"
// state whose pool of one worker is busy with a request for the slow state
// (id 100): it answers on slowDone once bs is released.
func busyPool(t testing.TB) (h *Handler, bs *qstatetest.BlockingState, slowDone chan []byte) {
	t.Helper()
	r := registry.New()
	bs = registerSlow(t, r)
	if err := dataset.RegisterSynthetic(r, testKeys, testValueSize); err != nil {
		t.Fatal(err)
	}
	h, _ = newHandler(t, Config{Registry: r, PoolSize: 1})
	slowDone = make(chan []byte, 1)
	h.Proxy().ServeBatch(slowFrame(100), 1, func(out []byte) { slowDone <- out })
	qstatetest.Recv(t, bs.Entered, qstatetest.Timeout, "the only worker busy with the slow request")
	return h, bs, slowDone
}

// TestOverload: with every worker busy, a batch is refused at once, each
// request answered with the overload failure, before ServeBatch returns;
// nothing queues.
func TestOverload(t *testing.T) {
	h, bs, slowDone := busyPool(t)
	for round := range 20 {
		answers, early := serve(t, h.Proxy(), proxyFrame(1, 1), proxyFrame(2, 2))
		if !early {
			t.Fatalf("round %d: the overloaded batch was not refused at once", round)
		}
		for _, f := range answers {
			exc := failure(t, f)
			if exc.Class != "java.lang.RuntimeException" || !strings.Contains(exc.Message, "overloaded") {
				t.Fatalf("overload failure %s %q", exc.Class, exc.Message)
			}
		}
		if running, capacity := h.PoolStats(); running != 1 || capacity != 1 {
			t.Fatalf("pool running %d of %d", running, capacity)
		}
	}
	bs.Release()
	if out := qstatetest.Recv(t, slowDone, qstatetest.Timeout, "the slow answer"); len(out) == 0 {
		t.Fatal("slow request not answered")
	}
	st := h.Proxy().Stats()
	if st.Overloaded != 40 || st.Failed != 40 || st.Successful != 1 || st.Requests != 41 {
		t.Fatalf("stats %+v", st)
	}
	// The pool takes batches again once the worker is back in it (ants
	// returns it to the pool just after our function returns: poll).
	qstatetest.Eventually(t, qstatetest.Timeout, func() bool {
		answers, _ := serve(t, h.Proxy(), proxyFrame(3, 3))
		return answers[3].Type == codec.RequestResult
	}, "the pool to take a batch again after the overload")
}

// panickyState panics on Get.
type panickyState struct{}

func (panickyState) Get([]byte) ([]byte, bool, error) { panic("backend bug") }

func TestPanickingStateFailsBatch(t *testing.T) {
	r := registry.New()
	if _, err := r.Register(syntheticJob, "bad", registry.KeyGroupRange{Start: 0, End: 127}, 128, panickyState{}); err != nil {
		t.Fatal(err)
	}
	if err := dataset.RegisterSynthetic(r, testKeys, testValueSize); err != nil {
		t.Fatal(err)
	}
	for _, d := range []Dispatch{Pool, Inline} {
		h, _ := newHandler(t, Config{Registry: r, Dispatch: d})
		bad := codec.AppendKvStateRequestFrame(nil, 9, codec.KvStateRequest{JobID: syntheticJob, StateName: []byte("bad"), KeyAndNamespace: intKey(1)})
		answers, _ := serve(t, h.Proxy(), proxyFrame(1, 1), bad)
		for id, f := range answers {
			if exc := failure(t, f); !strings.Contains(exc.Message, "Internal error") {
				t.Fatalf("%v id %d: %q", d, id, exc.Message)
			}
		}
	}
}

// TestCloseReleasesPool: Close waits for running batches and leaves no
// goroutine; later batches are refused with a shutting-down failure.
func TestCloseReleasesPool(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	h, bs := newSlowHandler(t)
	slow := slowFrame(1)
	var wg sync.WaitGroup
	wg.Add(1)
	h.Proxy().ServeBatch(slow, 1, func([]byte) { wg.Done() })
	qstatetest.Recv(t, bs.Entered, qstatetest.Timeout, "the slow request at the state")
	closed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		closed <- h.Close(ctx)
	}()
	bs.Release()
	wg.Wait()
	if err := qstatetest.Recv(t, closed, qstatetest.Timeout, "Close to return"); err != nil {
		t.Fatal(err)
	}
	answers, early := serve(t, h.Proxy(), slow)
	if exc := failure(t, answers[1]); !early || !strings.Contains(exc.Message, "shutting down") {
		t.Fatalf("after Close: early %v, %q", early, exc.Message)
	}
}

func TestConfig(t *testing.T) {
	if _, err := New(Config{}); !errors.Is(err, ErrConfig) {
		t.Fatalf("no registry: %v", err)
	}
	err := Config{Registry: registry.New(), Dispatch: 7, PoolSize: -1, PoolExpiry: -1}.Validate()
	for _, want := range []string{"Dispatch", "PoolSize", "PoolExpiry"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v; want a problem about %s", err, want)
		}
	}
	var d Dispatch
	if err := d.UnmarshalText([]byte("inline")); err != nil || d != Inline {
		t.Fatalf("UnmarshalText: %v %v", d, err)
	}
	if err := d.UnmarshalText([]byte("queue")); !errors.Is(err, ErrConfig) {
		t.Fatalf("UnmarshalText(queue): %v", err)
	}
}
