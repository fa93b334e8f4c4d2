// Package etcdtest starts a real etcd server (the etcd binary, Debian's
// etcd-server package) for tests: one member on 127.0.0.1 with free ports
// and a temporary data directory, stopped and removed when the test ends.
//
// A test calls Start; Stop and Restart (same ports, same data) simulate an
// outage. All methods are for the test's goroutine. It is a test helper:
// nothing outside _test.go files and scripts imports it.
package etcdtest

import (
	"context"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Server is one running (or stopped) etcd member.
type Server struct {
	t          testing.TB
	bin        string
	dir        string
	clientPort int
	peerPort   int
	cmd        *exec.Cmd
	exited     chan struct{}
	out        *strings.Builder
}

// Bin returns the path of the etcd binary, or skips t when there is none.
func Bin(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Skip("etcd is not installed (Debian package etcd-server; .ci/run installs it)")
	}
	return bin
}

// Start starts etcd and waits until it answers its health check; the
// server is stopped and its data removed when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, bin: Bin(t), dir: t.TempDir()}
	s.clientPort, s.peerPort = freePort(t), freePort(t)
	s.start()
	t.Cleanup(s.Stop)
	return s
}

// Endpoint is the client URL (http://127.0.0.1:PORT).
func (s *Server) Endpoint() string { return "http://127.0.0.1:" + strconv.Itoa(s.clientPort) }

// Stop kills etcd (SIGKILL: an outage, not a goodbye) and waits for it to exit.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Restart starts etcd again on the same ports with the same data.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

func (s *Server) start() {
	s.t.Helper()
	peer := "http://127.0.0.1:" + strconv.Itoa(s.peerPort)
	// Short heartbeat and election timeout: a one-member cluster elects
	// itself at once, and the shortest lease TTL becomes 1 s (etcd's
	// minimum is 1.5 election timeouts).
	s.cmd = exec.Command(s.bin,
		"--name", "test", "--data-dir", s.dir+"/data",
		"--listen-client-urls", s.Endpoint(), "--advertise-client-urls", s.Endpoint(),
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "test="+peer, "--initial-cluster-state", "new",
		"--heartbeat-interval", "25", "--election-timeout", "250",
		"--logger", "zap", "--log-level", "error")
	s.out = new(strings.Builder)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("etcdtest: start etcd: %v", err)
	}
	s.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		_ = cmd.Wait()
		close(exited)
	}(s.cmd, s.exited)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		if healthy(ctx, s.Endpoint()) {
			return
		}
		select {
		case <-s.exited:
			s.cmd = nil
			s.t.Fatalf("etcdtest: etcd exited at start:\n%s", s.out)
		case <-ctx.Done():
			s.Stop()
			s.t.Fatalf("etcdtest: etcd not healthy within 20 s:\n%s", s.out)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// healthClient keeps no idle connection (a test that checks for leaked
// goroutines must not find one of ours).
var healthClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// healthy reports whether etcd's /health says so.
func healthy(ctx context.Context, endpoint string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/health", nil)
	if err != nil {
		return false
	}
	resp, err := healthClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var b [256]byte
	n, _ := resp.Body.Read(b[:])
	return resp.StatusCode == http.StatusOK && strings.Contains(string(b[:n]), `"true"`)
}

// freePort returns a TCP port free on 127.0.0.1 now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
