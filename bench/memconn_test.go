package bench

import (
	"encoding/binary"
	"net"
	"strconv"
	"time"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/dataset"
)

// memConn is an in-memory net.Conn that answers, at each Write, every
// request written with the synthetic value: the loop without a network.
type memConn struct {
	cfg  Config
	out  []byte
	rpos int
	val  []byte
	tmp  []byte

	values dataset.SyntheticValues
}

func newMemConn(cfg Config) *memConn {
	return &memConn{cfg: cfg, values: dataset.NewSyntheticValues(cfg.ValueSize)}
}

// appendValue appends key's synthetic value (a copy, not a byte loop, so
// that benchmarks measure the harness rather than this responder).
func (m *memConn) appendValue(dst []byte, key int) []byte {
	return append(dst, m.values.Value(key)...)
}

func (m *memConn) Write(p []byte) (int, error) {
	m.out, m.rpos = m.out[:copy(m.out, m.out[m.rpos:])], 0
	for b := p; len(b) > 0; {
		var key, n int
		if m.cfg.Protocol == RESP {
			// *2\r\n$3\r\nGET\r\n$<l>\r\nkey:<i>\r\n
			i := 4 + 9 + 1
			l := 0
			for ; b[i] != '\r'; i++ {
				l = l*10 + int(b[i]-'0')
			}
			i += 2
			for _, c := range b[i+4 : i+l] {
				key = key*10 + int(c-'0')
			}
			n = i + l + 2
			m.out = append(m.out, '$')
			m.out = strconv.AppendInt(m.out, int64(m.cfg.ValueSize), 10)
			m.out = append(m.out, '\r', '\n')
			m.out = m.appendValue(m.out, key)
			m.out = append(m.out, '\r', '\n')
		} else {
			n = codec.LengthLen + int(binary.BigEndian.Uint32(b))
			id := int64(binary.BigEndian.Uint64(b[idOffset:]))
			key = int(binary.BigEndian.Uint32(b[n-6:]))
			m.tmp = binary.BigEndian.AppendUint32(m.tmp[:0], uint32(m.cfg.ValueSize))
			m.tmp = m.appendValue(m.tmp, key)
			m.out = codec.AppendResultFrame(m.out, id, m.tmp)
		}
		b = b[n:]
	}
	return len(p), nil
}

func (m *memConn) Read(p []byte) (int, error) {
	n := copy(p, m.out[m.rpos:])
	m.rpos += n
	return n, nil
}

func (m *memConn) Close() error                     { return nil }
func (m *memConn) LocalAddr() net.Addr              { return nil }
func (m *memConn) RemoteAddr() net.Addr             { return nil }
func (m *memConn) SetDeadline(time.Time) error      { return nil }
func (m *memConn) SetReadDeadline(time.Time) error  { return nil }
func (m *memConn) SetWriteDeadline(time.Time) error { return nil }
