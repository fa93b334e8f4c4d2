package handler

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/server"
)

// Load shape of BenchmarkTCP: conns connections, each keeping depth
// requests outstanding (closed loop), 8-byte values of the synthetic dataset.
const (
	benchConns = 50
	benchDepth = 16
)

// BenchmarkTCP drives a node over loopback TCP with benchConns connections
// x benchDepth pipelined KvStateRequests; one op is one request. It
// reports requests/s and allocations per request of the whole process
// (the client loop allocates nothing), and, with RUSAGE_SELF, CPU time
// per request of the whole process (client included).
//
// To measure a server in its own process (CPU of the server alone), start
// `qstate serve --dataset synthetic` and set QSTATE_BENCH_ADDR to its proxy
// address and QSTATE_BENCH_PID to its pid: the benchmark then reads the
// server's utime+stime from /proc/<pid>/stat before and after.
func BenchmarkTCP(b *testing.B) {
	if addr := os.Getenv("QSTATE_BENCH_ADDR"); addr != "" {
		pid, _ := strconv.Atoi(os.Getenv("QSTATE_BENCH_PID"))
		b.Run("external", func(b *testing.B) { runLoad(b, addr, pid) })
		return
	}
	for _, d := range []Dispatch{Pool, Inline} {
		b.Run(d.String(), func(b *testing.B) {
			n := startNode(b, Config{Dispatch: d}, server.Config{})
			runLoad(b, n.proxy.Addr().String(), 0)
		})
	}
}

// runLoad sends b.N requests over benchConns connections to addr and
// reports the metrics; pid > 0 names an external server process.
func runLoad(b *testing.B, addr string, pid int) {
	frames := make([][]byte, testKeys)
	for k := range frames {
		frames[k] = proxyFrame(int64(k), int32(k))
	}
	conns := make([]*loadConn, benchConns)
	for i := range conns {
		c, err := net.DialTimeout("tcp", addr, ioTimeout)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		conns[i] = &loadConn{c: c, r: bufio.NewReaderSize(c, 64<<10), frames: frames, key: i * 37}
	}
	// Warm up: one round per connection.
	for _, lc := range conns {
		if err := lc.run(benchDepth); err != nil {
			b.Fatal(err)
		}
	}
	per := max(b.N/benchConns, benchDepth)
	total := per * benchConns

	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0, err := cpuTime(pid)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Value
	for _, lc := range conns {
		wg.Go(func() {
			if err := lc.run(per); err != nil {
				failed.Store(err)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	cpu1, _ := cpuTime(pid)
	runtime.ReadMemStats(&ms1)
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(total)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(total), "allocs/req")
	who := "process"
	if pid > 0 {
		who = "server"
	}
	b.ReportMetric(float64(cpu1-cpu0)/float64(total), "cpu-ns/req("+who+")")
	// b.N counts requests only approximately (rounded to the connections).
	b.SetBytes(0)
}

// cpuTime is the CPU time (user+system) of pid from /proc, or of this
// process (getrusage) when pid is 0.
func cpuTime(pid int) (time.Duration, error) {
	if pid == 0 {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			return 0, err
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may hold spaces): state is
	// field 3; utime and stime are fields 14 and 15, in clock ticks (USER_HZ = 100 on Linux).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// loadConn is one closed-loop pipelined connection: it keeps benchDepth
// requests outstanding, and for each burst of answers it has read sends as
// many new requests in one write. It allocates nothing per request.
type loadConn struct {
	c      net.Conn
	r      *bufio.Reader
	frames [][]byte
	key    int
	out    []byte
	hdr    [4]byte
}

func (lc *loadConn) next() []byte {
	lc.key = (lc.key + 1) % len(lc.frames)
	return lc.frames[lc.key]
}

// run sends n requests, keeping benchDepth outstanding, and reads every answer.
func (lc *loadConn) run(n int) error {
	_ = lc.c.SetDeadline(time.Now().Add(time.Minute))
	sent, got := 0, 0
	lc.out = lc.out[:0]
	for sent < n && sent < benchDepth {
		lc.out = append(lc.out, lc.next()...)
		sent++
	}
	if _, err := lc.c.Write(lc.out); err != nil {
		return err
	}
	for got < n {
		k := 0
		for { // every answer already buffered, at least one
			if err := lc.readAnswer(); err != nil {
				return err
			}
			got++
			k++
			if got == n || !lc.answerBuffered() {
				break
			}
		}
		lc.out = lc.out[:0]
		for ; k > 0 && sent < n; k-- {
			lc.out = append(lc.out, lc.next()...)
			sent++
		}
		if len(lc.out) > 0 {
			if _, err := lc.c.Write(lc.out); err != nil {
				return err
			}
		}
	}
	return nil
}

func (lc *loadConn) answerBuffered() bool {
	if lc.r.Buffered() < 4 {
		return false // Peek would block for more
	}
	p, err := lc.r.Peek(4)
	return err == nil && lc.r.Buffered() >= 4+int(binary.BigEndian.Uint32(p))
}

func (lc *loadConn) readAnswer() error {
	if _, err := io.ReadFull(lc.r, lc.hdr[:]); err != nil {
		return err
	}
	n := int(binary.BigEndian.Uint32(lc.hdr[:]))
	if n < codec.HeaderLen+codec.RequestIDLen {
		return fmt.Errorf("answer frame of %d bytes", n)
	}
	h, err := lc.r.Peek(codec.HeaderLen)
	if err != nil {
		return err
	}
	if t := codec.MessageType(binary.BigEndian.Uint32(h[4:])); t != codec.RequestResult {
		return fmt.Errorf("answer %v", t)
	}
	_, err = lc.r.Discard(n)
	return err
}
