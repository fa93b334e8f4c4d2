package handler

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/qstate/qstate/codec"
)

// TestAppenderAnswersOfMixedSizes: a batch from a state on disk whose
// answers go from 40 bytes to 1 MiB, in a task whose scratch starts empty
// (it grows, small answers after large ones, large ones past what it
// holds): every request gets its own value, byte for byte.
func TestAppenderAnswersOfMixedSizes(t *testing.T) {
	sizes := []int{40, 20 << 10, 3000, 1 << 20, 9000, 100, 16 << 10, 16<<10 - 1, 70 << 10, 1}
	ds := &diskState{size: func(k int32) int { return sizes[int(k)%len(sizes)] }}
	h, _ := newHandler(t, Config{Registry: registryWithDisk(t, ds), Dispatch: Pool})
	var frames [][]byte
	for i := range 60 {
		frames = append(frames, diskFrame(int64(i), int32(14+i%50))) // 13 fails
	}
	for round := range 2 { // a fresh scratch, then the one kept
		answers, _ := serve(t, h.Proxy(), frames...)
		for i := range frames {
			k := 14 + i%50
			got, err := codec.DecodeKvStateResponse(answers[int64(i)].Body)
			if want := bytes.Repeat([]byte{byte(k)}, sizes[k%len(sizes)]); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("round %d, request %d: %d bytes (%v), want %d bytes of %d", round, i, len(got), err, len(want), k)
			}
		}
	}
}

// TestAppenderLargeAnswersCopiedOnce: answering a batch of 32 values of
// 1 MiB from a state on disk allocates each answer once and the answer
// buffer once: about twice the answers' size, not the five times that
// growing one scratch buffer copied and kept (a memory bound of the
// README's formula for copied values, TestMemoryBoundedNonReaders).
func TestAppenderLargeAnswersCopiedOnce(t *testing.T) {
	const n, size = 32, 1 << 20
	ds := &diskState{size: func(int32) int { return size }}
	h, _ := newHandler(t, Config{Registry: registryWithDisk(t, ds), Dispatch: Pool})
	var frames [][]byte
	for i := range n {
		frames = append(frames, diskFrame(int64(i), int32(14+i))) // 13 fails
	}
	serve(t, h.Proxy(), frames...) // warm up: the pool's worker, the task
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	answers, _ := serve(t, h.Proxy(), frames...)
	runtime.ReadMemStats(&after)
	if len(answers) != n {
		t.Fatalf("%d answers, want %d", len(answers), n)
	}
	// The answers, the answer buffer, and serve's copy of each answer's
	// body (bytes.Clone): 3 × n × size; growing the scratch took 7.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 3*n*size+n*size/2 {
		t.Errorf("a batch of %d answers of %d KiB allocated %d MiB, want at most %d MiB", n, size>>10, alloc>>20, (3*n*size+n*size/2)>>20)
	} else {
		t.Logf("a batch of %d answers of %d KiB allocated %d MiB", n, size>>10, alloc>>20)
	}
}
