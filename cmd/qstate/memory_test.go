package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qstate/qstate/internal/qstatetest"
	"github.com/qstate/qstate/server"
)

// vmKiB reads a "VmXxx:   N kB" line of /proc/<pid>/status.
func vmKiB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc/%d/status (not Linux?): %v", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("%s not in /proc/%d/status", field, pid)
	return 0
}

// serverCloses counts the server's log lines for connections it closed
// as slow consumers or shed for its memory budget.
func serverCloses(p *serveProc) int {
	out, _ := p.stderr.Snapshot()
	return strings.Count(out, "slow consumer: reader took no answer bytes") + strings.Count(out, "shedding the connection holding the most")
}

// TestMemoryBoundedNonReaders: `qstate serve` with default flags and 64
// values of 1 MiB, in memory (heap) and on disk (pebble); four, then
// sixteen connections each pipeline 1,024 requests and never read. The
// server's peak resident memory (VmHWM) stays below the README's
// worst-case formula, and below 1 GiB for sixteen; the non-readers are
// shed (the memory budget) or closed as slow consumers; once they are gone
// the server's resident memory returns to within 96 MiB of where it
// started (plus, on disk, Pebble's block cache the burst filled).
func TestMemoryBoundedNonReaders(t *testing.T) {
	const value = 1 << 20
	bin := buildQstate(t)
	for _, b := range []memBackend{
		// Heap: no C × V term, the 1 MiB values are lent to the
		// connections, not copied.
		{name: "heap"},
		// Pebble reads a value whole into the answer: each connection
		// may hold one such answer beyond the budget. Its block cache
		// (--cache-size, 64 MiB by default) fills and stays.
		{name: "pebble", copied: value, kept: 64 << 20},
	} {
		t.Run(b.name, func(t *testing.T) {
			args := []string{"--state-backend", b.name}
			if b.name == "pebble" {
				args = append(args, "--data-dir", filepath.Join(t.TempDir(), "store"))
			}
			memoryBoundedNonReaders(t, bin, value, b, args...)
		})
	}
}

// memBackend is a state backend of TestMemoryBoundedNonReaders.
type memBackend struct {
	name   string // --state-backend
	copied int64  // V of the formula: the largest value copied into an answer (0: lent)
	kept   int64  // memory the backend keeps once warm (a block cache), not in the baseline
}

// memoryBoundedNonReaders is TestMemoryBoundedNonReaders for backend b
// (args: its flags) with the qstate binary bin.
func memoryBoundedNonReaders(t *testing.T, bin string, value int, b memBackend, args ...string) {
	const keys, pipeline = 64, 1024
	// Default flags but the stall timeout (30 s): the connections the
	// budget does not shed are closed as slow consumers after 1 s instead,
	// which keeps the test short (the memory bound does not depend on it);
	// and no log rate limit, so that every close is logged.
	p := startServeBin(t, bin, append([]string{"--dataset", "synthetic", "--keys", strconv.Itoa(keys), "--value-size", strconv.Itoa(value),
		"--stall-timeout", "1s", "--log-rate=-1"}, args...)...)
	pid := p.cmd.Process.Pid
	base := vmKiB(t, pid, "VmRSS") << 10
	budget := server.DefaultMaxBufferedTotal() // the child's default: same machine, no GOMEMLIMIT
	var reqs []byte
	for i := range pipeline {
		reqs = append(reqs, syntheticRequest(int64(i), int32(i%keys))...)
	}
	for _, conns := range []int{4, 16} {
		cs := make([]net.Conn, conns)
		for i := range cs {
			cs[i] = qstatetest.DialWindow(t, p.proxy, 16<<10)
			if _, err := cs[i].Write(reqs); err != nil {
				t.Fatal(err)
			}
		}
		// Every non-reader ends closed by the server, shed or stalled (its
		// log says so); then reading what the kernel still holds ends in
		// EOF or a reset.
		want := serverCloses(p) + conns
		deadline := time.Now().Add(procTimeout)
		for serverCloses(p) < want && time.Now().Before(deadline) {
			_, changed := p.stderr.Snapshot()
			select {
			case <-changed:
			case <-time.After(time.Until(deadline)):
			}
		}
		closed := 0
		for _, c := range cs {
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.Copy(io.Discard, c); err == nil || qstatetest.PeerClosed(err) {
				closed++
			}
			c.Close()
		}
		peak := vmKiB(t, pid, "VmHWM") << 10
		// The formula (README, "Memory"): baseline + 4 × (budget + C × V)
		// + 20 KiB per connection, the 4 being bufpool's rounding to a
		// power of two times the garbage collector's headroom (GOGC=100);
		// V is the largest copied value (0 for lent ones). One port only:
		// one budget, not the two ports' 2B.
		formula := base + 4*(budget+int64(conns)*b.copied) + int64(conns)*(20<<10)
		t.Logf("%d non-readers: peak RSS %d MiB (baseline %d MiB, budget %d MiB, formula %d MiB), %d closed by the server",
			conns, peak>>20, base>>20, budget>>20, formula>>20, closed)
		if peak > formula {
			t.Errorf("%d non-readers: peak RSS %d MiB over the formula's %d MiB", conns, peak>>20, formula>>20)
		}
		if conns == 16 && peak >= 1<<30 {
			t.Errorf("16 non-readers: peak RSS %d MiB, want below 1 GiB", peak>>20)
		}
		if closed != conns {
			t.Errorf("%d of %d non-readers closed by the server", closed, conns)
		}
	}
	// Once the burst has drained, the server returns its memory
	// (budget.go: debug.FreeOSMemory, at most every 5 s).
	start := time.Now()
	limit := base + b.kept + 96<<20
	qstatetest.Eventually(t, 15*time.Second, func() bool { return vmKiB(t, pid, "VmRSS")<<10 < limit },
		fmt.Sprintf("RSS back under %d MiB after the burst (it is %d MiB; memory returned %d times)",
			limit>>20, vmKiB(t, pid, "VmRSS")>>10, strings.Count(p.stderr.String(), "memory returned to the system")))
	t.Logf("RSS back to %d MiB %v after the burst drained", vmKiB(t, pid, "VmRSS")>>10, time.Since(start).Round(time.Millisecond))
}
