package bench

import (
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/qstate/qstate/internal/qstatetest"
)

// startRedis runs redis-server on a free 127.0.0.1 port for the test and
// returns its address and pid. It skips the test when redis-server is not
// installed (CI does not install it; scripts/compare.sh does).
func startRedis(t *testing.T) (string, int) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed")
	}
	_, port, _ := net.SplitHostPort(qstatetest.DeadAddr(t))
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	addr := net.JoinHostPort("127.0.0.1", port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return addr, cmd.Process.Pid
		}
		select {
		case <-exited:
			t.Fatal("redis-server exited at start")
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("redis-server not listening after 10 s")
		}
	}
}

// TestRedisServer: the RESP mode against a real redis-server: preload,
// verified GETs, exact count, server CPU, and nil for missing keys.
func TestRedisServer(t *testing.T) {
	addr, pid := startRedis(t)
	cfg := quick(addr)
	cfg.Protocol, cfg.Keys, cfg.ValueSize, cfg.Preload, cfg.Verify, cfg.Requests, cfg.ServerPID = RESP, 2000, 1024, true, true, 20000, pid
	rep := mustRun(t, cfg)
	if rep.OK != 20000 || rep.ErrorTotal != 0 {
		t.Errorf("ok %d errors %v (%s)", rep.OK, rep.Errors, rep.FirstConnError)
	}
	if rep.ServerCPUSeconds == nil || *rep.ServerCPUSeconds < 0 {
		t.Errorf("server CPU %v", rep.ServerCPUSeconds)
	}
	checkI2(t, rep)

	cfg.Preload, cfg.Keys, cfg.ServerPID = false, 4000, 0
	rep = mustRun(t, cfg)
	if rep.ErrClass(KindRequestFailure, "(nil)") == 0 || rep.OK+rep.ErrClass(KindRequestFailure, "(nil)") != 20000 {
		t.Errorf("ok %d errors %v", rep.OK, rep.Errors)
	}
}
