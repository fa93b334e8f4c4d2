package server

import "testing"

// BenchmarkServe drives one connection in process (no sockets): each op is
// one request of a 16-deep pipeline through decode, batch copy, dispatch,
// answer and write. It measures the server's share of the path.
func BenchmarkServe(b *testing.B) {
	for _, mode := range []string{"inline", "worker"} {
		b.Run(mode, func(b *testing.B) {
			inline := mode == "inline"
			h := echoOrWorker(b, inline)
			_, fc, cs := fakeServe(b, Config{}, h, false)
			const depth = 16
			frames := pipelineFrames(depth)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += depth {
				roundTrip(cs, fc, frames, inline)
			}
		})
	}
}
