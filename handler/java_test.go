package handler

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/internal/javatest"
	"github.com/qstate/qstate/pebblestate"
	"github.com/qstate/qstate/server"
)

// The Java of javatest.TestData (testdata/java) is QueryClient and the Flink classes it reads.
func TestMain(m *testing.M) { javatest.Main(m) }

// TestJavaClient: a Java program that speaks the protocol as Flink's
// client does queries a node over TCP: every value checks out byte for
// byte, a missing key deserializes (ObjectInputStream) into
// UnknownKeyOrNamespaceException, an unknown job into a RuntimeException
// caused by UnknownLocationException. Skipped only when javac or java is
// not installed.
func TestJavaClient(t *testing.T) {
	runJavaClient(t, Config{})
}

// TestJavaClientPebble: the same Java client against the synthetic state
// in a Pebble store on disk (pebblestate), whose look-ups copy from the
// store and run on the pool, inline dispatch or not.
func TestJavaClientPebble(t *testing.T) {
	for _, d := range []Dispatch{Pool, Inline} {
		t.Run(d.String(), func(t *testing.T) {
			r := pebbleRegistry(t, pebblestate.Options{})
			runJavaClient(t, Config{Registry: r, Dispatch: d})
		})
	}
}

// runJavaClient starts a node with cfg and runs the Java client against it.
func runJavaClient(t *testing.T, cfg Config) {
	t.Helper()
	n := startNode(t, cfg, server.Config{})
	addr := n.proxy.Addr()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := javatest.TestData.Command(ctx, t, "QueryClient",
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
