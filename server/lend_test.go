package server

import (
	"bytes"
	"testing"

	"github.com/qstate/qstate/codec"
)

// TestLentAnswersQueued: the answers of a PartHandler that lends large
// values are written in order, byte for byte the ones it would have
// copied, through every way the loop writes (whole, gathered, in chunks
// after a partial write); the lent bytes are not counted as the
// connection's memory (account), and its own buffer goes back once
// written.
func TestLentAnswersQueued(t *testing.T) {
	var frames []byte
	for i, size := range []int{10, 100_000, 20, 50_000, 3_000, 70_000} {
		frames = append(frames, requestFrame(int64(i), sizedBody(size))...)
	}
	copied := (&echoHandler{}).answer(frames, 6)
	for _, c := range []struct {
		name   string
		rawMax int // what the kernel takes of a write past gnet (0: all)
	}{{"kernel takes all", 0}, {"kernel takes part", 30_000}} {
		t.Run(c.name, func(t *testing.T) {
			h := &echoHandler{inline: true, lend: 1000}
			s, fc, cs := fakeServe(t, Config{}, h, true)
			fc.rawMax, fc.rawOnce = c.rawMax, c.rawMax > 0
			fc.full = true // gnet's buffer keeps what is written to it: the loop holds back
			fc.feed(frames)
			cs.serve()
			if cs.lent == 0 {
				t.Fatal("nothing lent is queued")
			}
			cs.account()
			own := cs.queued + cs.qoff - cs.lent + fc.outbound
			if got := cs.accounted.Load(); got != int64(own) || got >= 300_000 || s.buffered.Load() != got {
				t.Fatalf("accounted %d bytes (server %d), want the %d the connection owns", got, s.buffered.Load(), own)
			}
			for range 100 {
				if len(cs.queue) == 0 {
					break
				}
				fc.outbound = 0 // the kernel took gnet's buffer
				fc.rawMax = 0
				cs.serve()
			}
			if len(cs.queue) != 0 || cs.lent != 0 || cs.queued != 0 {
				t.Fatalf("queue %d entries, %d lent, %d queued after the drain", len(cs.queue), cs.lent, cs.queued)
			}
			if !bytes.Equal(fc.out, copied) {
				t.Fatalf("written %d bytes, differing from the %d copied ones", len(fc.out), len(copied))
			}
		})
	}
}

// TestLentValuesBoundMemory: a client that pipelines requests for 1 MiB
// values and reads nothing makes the server hold only its requests, gnet's
// outbound buffer and the answers' headers when the values are lent: the
// server's accounting (Stats.Buffered) stays under 2 high watermarks plus
// the requests and headers, where a copy would hold at least one whole
// value (the first answer is built whatever its size). Once the client
// reads, every answer arrives whole.
func TestLentValuesBoundMemory(t *testing.T) {
	const k, size = 32, 1 << 20
	h := &echoHandler{lend: 16 << 10}
	s := startEcho(t, Config{}, h)
	c := dialRcvBuf(t, s, 4096)
	var frames []byte
	for i := range k {
		frames = append(frames, requestFrame(int64(i), sizedBody(size))...)
	}
	if _, err := c.Write(frames); err != nil {
		t.Fatal(err)
	}
	// Held back: gnet's buffer holds a chunk of the first answer (counted
	// in Buffered at the end of that pass) and the rest waits for the reader.
	waitFor(t, "the connection held back with a chunk in gnet's buffer", func() bool {
		st := s.Stats()
		return st.Backpressured == 1 && st.Buffered >= DefaultHighWatermark
	})
	bound := int64(2*DefaultHighWatermark + len(frames) + k*codec.ResultFrameSize(0))
	if got := s.Stats().Buffered; got > bound {
		t.Fatalf("server holds %d bytes for a non-reader of %d lent 1 MiB answers, want at most %d", got, k, bound)
	}
	want := pattern(size)
	for i := range k {
		f, _ := readFrame(t, c)
		if got, err := codec.DecodeKvStateResponse(f.Body); err != nil || f.RequestID != int64(i) || !bytes.Equal(got, want) {
			t.Fatalf("answer %d: id %d, %d bytes, %v", i, f.RequestID, len(got), err)
		}
	}
}
