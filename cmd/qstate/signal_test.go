package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/internal/qstatetest"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/state"
)

// Tests of `qstate serve` as a process: built with go build into the
// test's temporary directory, stopped with real signals.

const procTimeout = 30 * time.Second

// serveProc is a running `qstate serve`.
type serveProc struct {
	cmd    *exec.Cmd
	proxy  string
	stdout qstatetest.Buffer
	stderr qstatetest.Buffer
	exited chan struct{} // closed once Wait returned; err is then set
	err    error
}

// startServeProc builds qstate and runs `qstate serve args...` on free
// loopback ports, without the admin port; it returns once the banner
// names the proxy address. Cleanup kills it if it still runs.
func startServeProc(t *testing.T, args ...string) *serveProc {
	t.Helper()
	return startServeBin(t, buildQstate(t), args...)
}

// buildQstate builds qstate into a temporary directory of t and returns
// the binary's path.
func buildQstate(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "qstate")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startServeBin is startServeProc with the binary bin (buildQstate).
func startServeBin(t *testing.T, bin string, args ...string) *serveProc {
	t.Helper()
	p := &serveProc{exited: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"serve", "--proxy-addr", "127.0.0.1:0", "--server-addr", "127.0.0.1:0",
		"--admin", "", "--log-format", "json", "--log-level", "info"}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
	})
	deadline := time.After(procTimeout)
	const label = "proxy port (KvStateRequest):"
	for {
		out, changed := p.stdout.Snapshot()
		if i := strings.Index(out, label); i >= 0 && strings.Contains(out[i:], "\n") {
			p.proxy = strings.Fields(out[i+len(label):])[0]
			return p
		}
		select {
		case <-changed:
		case <-p.exited:
			t.Fatalf("serve exited: %v\n%s", p.err, p.stderr.String())
		case <-deadline:
			t.Fatalf("serve printed no banner:\n%s\n%s", out, p.stderr.String())
		}
	}
}

// wait waits for the process to exit, at most d.
func (p *serveProc) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case <-p.exited:
		return p.err
	case <-time.After(d):
		t.Fatalf("serve still running %v later\n%s", d, p.stderr.String())
		return nil
	}
}

// syntheticRequest is a KvStateRequest frame for Integer key k of the
// synthetic dataset.
func syntheticRequest(id int64, k int32) []byte {
	job, _ := registry.ParseJobID(dataset.SyntheticJobID)
	return codec.AppendKvStateRequestFrame(nil, id, codec.KvStateRequest{
		JobID: job, StateName: []byte(dataset.SyntheticState), KeyHash: k,
		KeyAndNamespace: state.AppendKeyAndNamespace(nil, state.Int, k, state.Void, state.VoidNamespace{}),
	})
}

// TestServeSIGTERMUnderLoad: 8 clients pipeline requests as fast as they
// can; SIGTERM stops the process gracefully. Every answer a client gets is
// the right value for a request it sent, none twice; every connection
// ends closed; the process logs its shutdown and exits 0.
func TestServeSIGTERMUnderLoad(t *testing.T) {
	const (
		clients = 8
		keys    = 64
		size    = 32
		maxReqs = 100_000 // per client
	)
	p := startServeProc(t, "--dataset", "synthetic", "--keys", fmt.Sprint(keys), "--value-size", fmt.Sprint(size),
		"--shutdown-timeout", "20s")
	want := make([][]byte, keys)
	for k := range want {
		want[k] = state.Bytes.Append(nil, dataset.SyntheticValue(nil, k, size))
	}
	var answered, refused atomic.Int64
	enough := make(chan struct{}) // closed at the 2000th answer
	var wg sync.WaitGroup
	for g := range clients {
		c, err := net.DialTimeout("tcp", p.proxy, procTimeout)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(procTimeout))
		var sent atomic.Int64
		wg.Go(func() {
			var out []byte
			for id := int64(0); id < maxReqs; {
				out = out[:0]
				for k := 0; k < 16 && id < maxReqs; k++ {
					out = append(out, syntheticRequest(id, int32(id%keys))...)
					id++
				}
				sent.Store(id)
				if _, err := c.Write(out); err != nil {
					return // closed by the shutdown
				}
			}
		})
		wg.Go(func() {
			defer c.Close()
			seen := make([]bool, maxReqs)
			for {
				f, _, err := qstatetest.ReadFrame(c)
				if err != nil {
					if !qstatetest.PeerClosed(err) {
						t.Errorf("client %d: %v, want answers then a close", g, err)
					}
					return
				}
				if f.Type == codec.RequestFailure && f.RequestID >= 0 && f.RequestID < sent.Load() && !seen[f.RequestID] {
					// Read after SIGTERM and not dispatched: refused with
					// the shutdown failure, never left unanswered.
					if exc, err := codec.DecodeFailure(f); err != nil || !strings.Contains(exc.Message, "shutting down") {
						t.Errorf("client %d: failure for %d: %v %v, want the shutdown failure", g, f.RequestID, exc, err)
						return
					}
					seen[f.RequestID] = true
					refused.Add(1)
					continue
				}
				v, derr := codec.DecodeKvStateResponse(f.Body)
				if f.Type != codec.RequestResult || derr != nil || f.RequestID < 0 || f.RequestID >= sent.Load() ||
					seen[f.RequestID] || !bytes.Equal(v, want[f.RequestID%keys]) {
					t.Errorf("client %d: wrong answer %v id %d %x", g, f.Type, f.RequestID, v)
					return
				}
				seen[f.RequestID] = true
				if answered.Add(1) == 2000 {
					close(enough)
				}
			}
		})
	}
	qstatetest.Recv(t, enough, procTimeout, "2000 answers before SIGTERM")
	signalled := answered.Load()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := p.wait(t, procTimeout); err != nil {
		t.Fatalf("serve exited with %v, want 0\n%s", err, p.stderr.String())
	}
	logs := p.stderr.String()
	for _, s := range []string{"signal received: shutting down", `"message":"stopped"`} {
		if !strings.Contains(logs, s) {
			t.Errorf("log lacks %q:\n%s", s, logs)
		}
	}
	t.Logf("%d answers before SIGTERM, %d in all, %d refused for the shutdown", signalled, answered.Load(), refused.Load())
}

// TestServeSecondSignal: a client asks for a 4 MiB value and stops
// reading, so the graceful shutdown waits for it (up to 60 s); a second
// SIGINT ends the process at once with exit status 130.
func TestServeSecondSignal(t *testing.T) {
	p := startServeProc(t, "--dataset", "synthetic", "--keys", "1", "--value-size", fmt.Sprint(4<<20),
		"--shutdown-timeout", "60s", "--stall-timeout", "60s")
	c := qstatetest.DialWindow(t, p.proxy, 16<<10)
	_ = c.SetDeadline(time.Now().Add(procTimeout))
	if _, err := c.Write(syntheticRequest(1, 0)); err != nil {
		t.Fatal(err)
	}
	var pre [4]byte // the answer is on its way: the server holds the rest for us
	if _, err := io.ReadFull(c, pre[:]); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	p.stderr.WaitFor(t, procTimeout, "signal received: shutting down")
	select {
	case <-p.exited:
		t.Fatalf("serve exited before the second signal: %v\n%s", p.err, p.stderr.String())
	default:
	}
	second := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := p.wait(t, 10*time.Second)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("serve exited with %v, want status %d\n%s", err, exitInterrupted, p.stderr.String())
	}
	if !strings.Contains(p.stderr.String(), "second signal") {
		t.Errorf("no word about the second signal:\n%s", p.stderr.String())
	}
	t.Logf("exited %v after the second signal", time.Since(second))
}
