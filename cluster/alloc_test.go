//go:build !race

package cluster

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/qstate/qstate/bufpool"
	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/registry"
)

// TestForwardDoesNotAllocate: in steady state a forwarded request costs the
// Forwarder and the client no allocation when its ctx has a deadline (the
// handler's is recycled; the answer comes from bufpool and goes back). The peer here is a state
// server that allocates nothing either: one connection, fixed buffers,
// the same answer every time.
func TestForwardDoesNotAllocate(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var conn net.Conn
	var mu sync.Mutex
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		if conn != nil {
			_ = conn.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		mu.Lock()
		conn = c
		mu.Unlock()
		r := bufio.NewReaderSize(c, 4096)
		in := make([]byte, 4096)
		out := make([]byte, 0, 256)
		for {
			if _, err := io.ReadFull(r, in[:4]); err != nil {
				return
			}
			n := int(binary.BigEndian.Uint32(in[:4]))
			if n > len(in)-4 {
				return
			}
			if _, err := io.ReadFull(r, in[4:4+n]); err != nil {
				return
			}
			f, _, err := codec.DecodeFrame(in[:4+n], 4+n)
			if err != nil {
				return
			}
			out = codec.AppendResultFrame(out[:0], f.RequestID, []byte("12345678"))
			if _, err := c.Write(out); err != nil {
				return
			}
		}
	})
	f := newForwarder(t, ForwarderConfig{})
	owner := registry.Owner{ID: fwdID, Addr: ln.Addr().String()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // as the handler gives one: with a deadline
	defer cancel()
	forward := func() {
		content, err := f.Forward(ctx, owner, fwdJob, fwdName, 1, fwdKey)
		if err != nil || string(content) != "12345678" {
			t.Fatalf("Forward = %q, %v", content, err)
		}
		bufpool.Put(content)
	}
	for range 100 { // connect, fill the pools
		forward()
	}
	if n := testing.AllocsPerRun(1000, forward); n != 0 {
		t.Errorf("Forward: %v allocations per request, want 0", n)
	}
}
