package handler

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/server"
)

// TestJavaClient: a Java program that speaks the protocol as Flink's
// client does queries a node over TCP: every value checks out byte for
// byte, a missing key deserializes (ObjectInputStream) into
// UnknownKeyOrNamespaceException, an unknown job into a RuntimeException
// caused by UnknownLocationException. Skipped only when javac or java is
// not on PATH.
func TestJavaClient(t *testing.T) {
	javac, err := exec.LookPath("javac")
	if err != nil {
		t.Skip("javac is not on PATH: cannot run the Java client")
	}
	java, err := exec.LookPath("java")
	if err != nil {
		t.Skip("java is not on PATH: cannot run the Java client")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	classes := t.TempDir()
	srcs, err := filepath.Glob("testdata/java/*.java")
	if err != nil || len(srcs) == 0 {
		t.Fatalf("no Java sources: %v", err)
	}
	more, _ := filepath.Glob("testdata/java/org/apache/flink/*/*.java")
	more2, _ := filepath.Glob("testdata/java/org/apache/flink/*/*/*.java")
	srcs = append(append(srcs, more...), more2...)
	args := append([]string{"-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC", "-d", classes}, srcs...)
	if out, err := exec.CommandContext(ctx, javac, args...).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	n := startNode(t, Config{}, server.Config{})
	addr := n.proxy.Addr()
	cmd := exec.CommandContext(ctx, java, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", classes, "QueryClient",
		addr.IP.String(), strconv.Itoa(addr.Port), dataset.SyntheticJobID, dataset.SyntheticState,
		strconv.Itoa(testKeys), strconv.Itoa(testValueSize))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "OK ") {
		t.Fatalf("Java client: %v\n%s", err, out)
	}
	fields := strings.Fields(string(out))
	if len(fields) != 3 || fields[1] != "200" || fields[2] != "2" {
		t.Fatalf("Java client output %q, want OK 200 2", out)
	}
}
