package handler

import (
	"bytes"
	"testing"
	"time"
	"unsafe"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/registry"
)

// TestLentValues: through ServeParts a value of at least lendMin bytes is
// lent, not copied: out holds the answers' headers and the small answers,
// segs interleaves its pieces with the state's own value bytes, and the
// bytes the server writes from segs are exactly the ones ServeBatch builds
// by copying (Flink's wire format unchanged).
func TestLentValues(t *testing.T) {
	const size = 40_000 // ≥ lendMin
	r := registry.New()
	if err := dataset.RegisterSynthetic(r, 10, size); err != nil {
		t.Fatal(err)
	}
	for _, d := range []Dispatch{Auto, Pool, Inline} {
		t.Run(d.String(), func(t *testing.T) {
			h, _ := newHandler(t, Config{Registry: r, Dispatch: d})
			keys := []int32{3, 999, 0, 7, 3} // 999: missing (a failure, built into out)
			var frames [][]byte
			for i, k := range keys {
				frames = append(frames, proxyFrame(int64(i), k))
			}
			reqs := bytes.Join(frames, nil)

			type answer struct {
				out  []byte
				segs [][]byte
				n    int
			}
			got := make(chan answer, 1)
			h.Proxy().ServeParts(reqs, len(keys), 1<<30, true, func([]byte, [][]byte, int) {
				t.Error("part called without forwards")
			}, func(out []byte, segs [][]byte, answered, _ int) {
				got <- answer{out, append([][]byte(nil), segs...), answered} // segs is the handler's again after done
			})
			var a answer
			select {
			case a = <-got:
			case <-time.After(10 * time.Second):
				t.Fatal("not answered")
			}
			if a.n != len(keys) || len(a.segs) != 2*4+1 {
				t.Fatalf("%d answered, %d segments: want %d and 9 (4 lent values)", a.n, len(a.segs), len(keys))
			}
			wire := bytes.Join(a.segs, nil)
			want, _ := serve(t, h.Proxy(), frames...) // ServeBatch: copied
			var copied []byte
			for i := range keys {
				f := want[int64(i)]
				copied = append(codec.AppendHeader(copied, f.Type, f.RequestID, len(f.Body)), f.Body...)
			}
			if !bytes.Equal(wire, copied) {
				t.Fatalf("lent answers differ from copied ones (%d vs %d bytes)", len(wire), len(copied))
			}
			loc, _ := r.Location(syntheticJob, []byte(dataset.SyntheticState))
			owner, _ := loc.Owner(0)
			kvs, ok := r.KvState(owner.ID)
			if !ok {
				t.Fatal("no synthetic state")
			}
			lent := 0
			for i, k := range []int32{3, 0, 7, 3} {
				seg := a.segs[2*i+1]
				v, found, err := kvs.Get(intKey(k))
				if err != nil || !found || unsafe.SliceData(seg) != unsafe.SliceData(v) || len(seg) != len(v) {
					t.Fatalf("segment %d is not the state's own value of key %d", 2*i+1, k)
				}
				lent += len(seg)
			}
			if len(a.out)+lent != len(wire) || len(a.out) > 1024 {
				t.Fatalf("out holds %d bytes: want the headers and the failure only", len(a.out))
			}
			putBuf(a.out)
		})
	}
}
