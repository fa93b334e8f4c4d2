package server

import (
	"encoding/binary"
	"io"
	"strconv"
	"testing"

	"github.com/qstate/qstate/codec"
)

// TestBytesCounted: Stats.BytesIn counts the bytes of the request frames
// dispatched, and Stats.BytesOut the bytes of answers (whole or in
// chunks) and of the SERVER_FAILURE frame that a broken stream gets: each
// equals what the client's socket wrote and read.
func TestBytesCounted(t *testing.T) {
	for _, inline := range []bool{false, true} {
		t.Run("inline="+strconv.FormatBool(inline), func(t *testing.T) {
			h := &echoHandler{inline: inline}
			s := startEcho(t, Config{}, h)
			c := dial(t, s)
			var good []byte
			const n = 200
			for i := range n {
				body := []byte("request " + strconv.Itoa(i))
				if i == 50 {
					body = sizedBody(100 << 10) // over the high watermark: written in chunks
				}
				good = append(good, requestFrame(int64(i), body)...)
			}
			if _, err := c.Write(good); err != nil {
				t.Fatal(err)
			}
			read := 0
			for range n {
				_, raw := readFrame(t, c)
				read += len(raw)
			}
			// A frame with a bad version: SERVER_FAILURE, then close.
			bad := requestFrame(n, []byte("x"))
			binary.BigEndian.PutUint32(bad[codec.LengthLen:], 0xdeadbeef)
			if _, err := c.Write(bad); err != nil {
				t.Fatal(err)
			}
			rest, err := io.ReadAll(c)
			if err != nil {
				t.Fatal(err)
			}
			f, _, err := codec.DecodeFrame(rest, len(rest))
			if err != nil || f.Type != codec.ServerFailure {
				t.Fatalf("after a bad frame: %v %v", f.Type, err)
			}
			read += len(rest)
			waitFor(t, "the connection to close", func() bool { return s.Stats().Conns == 0 })
			st := s.Stats()
			if st.BytesIn != int64(len(good)) {
				t.Errorf("BytesIn %d, client wrote %d bytes of good frames", st.BytesIn, len(good))
			}
			if st.BytesOut != int64(read) {
				t.Errorf("BytesOut %d, client read %d bytes", st.BytesOut, read)
			}
		})
	}
}
