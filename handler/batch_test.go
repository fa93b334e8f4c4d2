package handler

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/internal/qstatetest"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/state"
)

// wideFrame is a KvStateRequest frame for Integer key k of the state
// registered as "wide" (16-byte values).
func wideFrame(id int64, k int32) []byte {
	return codec.AppendKvStateRequestFrame(nil, id, codec.KvStateRequest{
		JobID: syntheticJob, StateName: []byte("wide"), KeyHash: k, KeyAndNamespace: intKey(k)})
}

// TestBatchLookupsAnswerAsOneByOne: a batch whose requests go to two heap
// states (looked up in batches, state.BatchGetter), to a state that copies
// its answers (state.Appender), to unknown states, with missing keys and
// bodies that do not parse, gets, request by request, the answer the same
// request gets alone, on both dispatches and on both ports.
func TestBatchLookupsAnswerAsOneByOne(t *testing.T) {
	r := registryWithDisk(t, &diskState{})
	all := registry.KeyGroupRange{Start: 0, End: 127}
	wide, err := dataset.SyntheticPart(testKeys, 16, 128, all)
	if err != nil {
		t.Fatal(err)
	}
	wideID, err := r.Register(syntheticJob, "wide", all, 128, wide)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var proxy, internal [][]byte
	for i := range int64(200) {
		k := int32(rng.IntN(testKeys + testKeys/5)) // some missing
		var f []byte
		switch rng.IntN(10) {
		case 0, 1, 2, 3:
			f = proxyFrame(i, k)
		case 4, 5, 6:
			f = wideFrame(i, k)
		case 7:
			f = diskFrame(i, k)
		case 8:
			f = codec.AppendKvStateRequestFrame(nil, i, codec.KvStateRequest{
				JobID: syntheticJob, StateName: []byte("nope"), KeyHash: k, KeyAndNamespace: intKey(k)})
		default:
			f = qstatetest.RequestFrame(i, []byte{1, 2, 3})
		}
		proxy = append(proxy, f)
		body := codec.AppendKvStateInternalRequest(nil, codec.KvStateInternalRequest{KvStateID: wideID, KeyAndNamespace: intKey(k)})
		if i%7 == 0 {
			body = codec.AppendKvStateInternalRequest(nil, codec.KvStateInternalRequest{KvStateID: wideID, KeyAndNamespace: []byte{9}})
		}
		internal = append(internal, qstatetest.RequestFrame(i, body))
	}
	for _, d := range []Dispatch{Pool, Inline} {
		h, _ := newHandler(t, Config{Registry: r, Dispatch: d})
		for _, c := range []struct {
			ep     *Endpoint
			frames [][]byte
		}{{h.Proxy(), proxy}, {h.StateServer(), internal}} {
			t.Run(fmt.Sprintf("%v/%v", d, c.ep.Port()), func(t *testing.T) {
				batch, _ := serve(t, c.ep, c.frames...)
				ok := 0
				for i, f := range c.frames {
					alone, _ := serve(t, c.ep, f)
					want, got := alone[int64(i)], batch[int64(i)]
					if got.Type != want.Type || !bytes.Equal(got.Body, want.Body) {
						t.Fatalf("request %d: in the batch %v %x, alone %v %x", i, got.Type, got.Body, want.Type, want.Body)
					}
					if got.Type == codec.RequestResult {
						ok++
					}
				}
				if ok < len(c.frames)/3 {
					t.Fatalf("only %d of %d requests answered with a value: the batch does not test look-ups", ok, len(c.frames))
				}
			})
		}
	}
}

// hiddenBatch is a state without its GetBatch: the handler looks its keys
// up one Get after the other.
type hiddenBatch struct{ state.KvState }

// BenchmarkServeBatch measures a batch's way through the handler (decode,
// location, look-up, encode; Inline dispatch, so no pool hop) on the
// synthetic dataset in tables larger than the CPU's caches, keys in random
// order, with batch look-ups (state.BatchGetter) and with one Get after the
// other ("get", the same state with GetBatch hidden). ns/req is the figure
// to compare.
func BenchmarkServeBatch(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		s, err := dataset.SyntheticPart(n, 8, 128, registry.KeyGroupRange{Start: 0, End: 127})
		if err != nil {
			b.Fatal(err)
		}
		for _, mode := range []string{"get", "getbatch"} {
			var kvs state.KvState = s
			if mode == "get" {
				kvs = hiddenBatch{s}
			}
			r := registry.New()
			if _, err := r.Register(syntheticJob, dataset.SyntheticState, registry.KeyGroupRange{Start: 0, End: 127}, 128, kvs); err != nil {
				b.Fatal(err)
			}
			h, _ := newHandler(b, Config{Registry: r, Dispatch: Inline})
			ep := h.Proxy()
			rng := rand.New(rand.NewPCG(1, 2))
			for _, size := range []int{1, 16, 128} {
				batches := make([][]byte, 512)
				for i := range batches {
					var frames [][]byte
					for j := range size {
						frames = append(frames, proxyFrame(int64(j), int32(rng.IntN(n))))
					}
					batches[i] = bytes.Join(frames, nil)
				}
				done := func(out []byte) { putBuf(out) }
				b.Run(fmt.Sprintf("keys=%d/batch=%d/%s", n, size, mode), func(b *testing.B) {
					i := 0
					for b.Loop() {
						ep.ServeBatch(batches[i%len(batches)], size, done)
						i++
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/req")
				})
			}
		}
	}
}
