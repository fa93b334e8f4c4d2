package qstatetest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/qstate/qstate/codec"
)

// MaxFrameLen bounds the length prefix of a frame the readers accept
// (64 MiB): larger than any answer a test asks for, small enough that a
// broken stream does not make a test allocate gigabytes.
const MaxFrameLen = 64 << 20

// ReadFrame reads one whole frame from r and returns it decoded and raw
// (length prefix included); the frame's body is part of raw.
func ReadFrame(r io.Reader) (codec.Frame, []byte, error) {
	var pre [codec.LengthLen]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return codec.Frame{}, nil, err
	}
	n, _ := codec.FrameLength(pre[:])
	if err := codec.CheckFrameLength(n, MaxFrameLen); err != nil {
		return codec.Frame{}, nil, fmt.Errorf("frame length %d: %w", n, err)
	}
	raw := make([]byte, codec.LengthLen+int(n))
	copy(raw, pre[:])
	if _, err := io.ReadFull(r, raw[codec.LengthLen:]); err != nil {
		return codec.Frame{}, nil, err
	}
	f, size, err := codec.DecodeFrame(raw, len(raw))
	if err != nil || size != len(raw) {
		return codec.Frame{}, nil, fmt.Errorf("decode frame %x: %v", raw[:min(len(raw), 32)], err)
	}
	return f, raw, nil
}

// MustReadFrame is ReadFrame that fails t on an error.
func MustReadFrame(t testing.TB, r io.Reader) (codec.Frame, []byte) {
	t.Helper()
	f, raw, err := ReadFrame(r)
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	return f, raw
}

// maxFramesUntilClosed bounds what ReadUntilClosed reads from a peer that
// does not close.
const maxFramesUntilClosed = 1 << 16

// ReadUntilClosed reads frames until the stream ends; it returns them and
// the error that ended it (io.EOF for an orderly close). It gives up, with
// an error, after 65536 frames.
func ReadUntilClosed(r io.Reader) ([]codec.Frame, error) {
	var fs []codec.Frame
	for len(fs) < maxFramesUntilClosed {
		f, _, err := ReadFrame(r)
		if err != nil {
			return fs, err
		}
		fs = append(fs, f)
	}
	return fs, errors.New("too many frames: the peer did not close")
}

// RequestFrame is a whole REQUEST frame (prefix included) whose body is body.
func RequestFrame(id int64, body []byte) []byte {
	b := codec.AppendHeader(nil, codec.Request, id, len(body))
	return append(b, body...)
}

// Dial connects to addr over TCP, with a deadline of Timeout on every read
// and write, and closes the connection at cleanup.
func Dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, Timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(Timeout))
	return c
}

// ExpectClosed reads from c until the peer closes it; it fails t if data
// arrives first or the read times out (the connection is still open).
func ExpectClosed(t testing.TB, c net.Conn) {
	t.Helper()
	var b [1]byte
	n, err := c.Read(b[:])
	if n != 0 || err == nil {
		t.Fatalf("read %d bytes (%x), err %v: want the connection closed", n, b[:n], err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open: %v", err)
	}
}

// PeerClosed reports whether err, from a read or write of a connection,
// means the peer closed it (EOF, a reset), not a timeout: a server that
// must close a connection must not merely go quiet.
func PeerClosed(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

// Conn is the server side of one connection of a Server: the connection,
// and a buffered reader of it that the frame reads go through.
type Conn struct {
	net.Conn
	R *bufio.Reader
}

// ReadFrame reads one whole frame.
func (c *Conn) ReadFrame() (codec.Frame, error) {
	f, _, err := ReadFrame(c.R)
	return f, err
}

// ReadRequests reads n frames, each a REQUEST, and returns them.
func (c *Conn) ReadRequests(n int) ([]codec.Frame, error) {
	fs := make([]codec.Frame, 0, n)
	for len(fs) < n {
		f, err := c.ReadFrame()
		if err != nil {
			return fs, err
		}
		if f.Type != codec.Request {
			return fs, fmt.Errorf("fake server: got %v, want REQUEST", f.Type)
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// Drain reads and discards until the connection ends.
func (c *Conn) Drain() { _, _ = io.Copy(io.Discard, c.R) }

// Answer reads frames until the connection ends and writes, for each, the
// bytes reply returns (nothing when nil). It returns the error that ended
// the connection.
func (c *Conn) Answer(reply func(f codec.Frame) []byte) error {
	for {
		f, err := c.ReadFrame()
		if err != nil {
			return err
		}
		if out := reply(f); out != nil {
			if _, err := c.Write(out); err != nil {
				return err
			}
		}
	}
}

// RecvBuffer returns a net.Dialer Control function that sets the socket's
// receive buffer (SO_RCVBUF) to n bytes before it connects: a small window
// keeps the kernel from absorbing what a test that plays a slow reader does
// not read.
func RecvBuffer(n int) func(network, address string, rc syscall.RawConn) error {
	return func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, n)
		}); err != nil {
			return err
		}
		return serr
	}
}

// DialWindow is Dial with the socket's receive buffer set to rcvbuf bytes
// (RecvBuffer).
func DialWindow(t testing.TB, addr string, rcvbuf int) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: Timeout, Control: RecvBuffer(rcvbuf)}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(Timeout))
	return c
}
