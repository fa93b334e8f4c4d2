package client

import (
	"bytes"
	"errors"
	"net"
	"testing"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/internal/vectors"
)

// chunkConn is a net.Conn whose reads return data at most chunk bytes at a
// time, then io.EOF. Only Read and Close are used by the read loop.
type chunkConn struct {
	net.Conn
	data  []byte
	chunk int
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, errEOF
	}
	n := copy(p[:min(len(p), c.chunk)], c.data)
	c.data = c.data[n:]
	return n, nil
}

func (c *chunkConn) Close() error { return nil }

var errEOF = errors.New("EOF") // stands for io.EOF without importing io's meaning into the check

// FuzzReadStream feeds arbitrary server bytes, split into reads of
// arbitrary size, to a connection's read loop with four requests in flight.
// It must never panic, must end with an error (the stream always ends),
// and after the connection fails every request must have been completed
// exactly once (C2, C4).
func FuzzReadStream(f *testing.F) {
	for _, kind := range []string{"response_frame", "request_failure_frame", "server_failure_frame"} {
		vs, err := vectors.Kind(kind)
		if err != nil {
			f.Fatal(err)
		}
		for _, v := range vs {
			f.Add(uint8(7), v.Hex("frame_hex"))
		}
	}
	var pipelined []byte
	for id := int64(3); id >= 0; id-- {
		pipelined = codec.AppendResultFrame(pipelined, id, []byte{byte(id)})
	}
	f.Add(uint8(0), pipelined)
	f.Add(uint8(1), []byte{0x7f, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, chunk uint8, data []byte) {
		c, err := New(Config{MaxFrameLen: 1 << 16, ReadBufferSize: 64})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cn := newConn(c, "fuzz")
		calls := make([]*call, 4)
		for i := range calls {
			calls[i] = &call{done: make(chan struct{}, 1)}
			cn.inFlight[int64(i)] = calls[i]
		}
		err = cn.read(&chunkConn{data: bytes.Clone(data), chunk: int(chunk) + 1})
		if err == nil {
			t.Fatal("read returned nil")
		}
		cn.fail(err)
		for i, cl := range calls {
			select {
			case <-cl.done:
			default:
				t.Fatalf("request %d never completed", i)
			}
			if (cl.err == nil) == (cl.content == nil) && !(cl.err == nil && len(cl.content) == 0) {
				t.Fatalf("request %d: content %x and err %v", i, cl.content, cl.err)
			}
		}
	})
}
