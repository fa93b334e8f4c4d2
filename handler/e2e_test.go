package handler

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/internal/qstatetest"
	"github.com/qstate/qstate/internal/servertest"
	"github.com/qstate/qstate/internal/vectors"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/server"
	"github.com/qstate/qstate/state"
)

const ioTimeout = qstatetest.Timeout

// node is one qstate node in process: a handler and its two servers on
// free loopback ports.
type node struct {
	reg          *registry.Registry
	h            *Handler
	proxy, state *server.Server
}

// startNode starts a node; it is shut down at cleanup (servers first, then
// the handler's pool: cleanups run in reverse).
func startNode(t testing.TB, hcfg Config, scfg server.Config) *node {
	t.Helper()
	h, reg := newHandler(t, hcfg)
	n := &node{reg: reg, h: h}
	n.proxy, _ = servertest.Start(t, scfg, h.Proxy())
	n.state, _ = servertest.Start(t, scfg, h.StateServer())
	return n
}

// dialAddr connects to addr and closes the connection at cleanup.
func dialAddr(t testing.TB, addr net.Addr) net.Conn {
	t.Helper()
	return qstatetest.Dial(t, addr.String())
}

// readFrame reads one whole frame (prefix included) from r.
var readFrame = qstatetest.MustReadFrame

// TestTCPPipelined: thousands of pipelined requests on one connection,
// present and missing keys mixed, answers matched by id; values equal the
// dataset, missing keys get the UnknownKeyOrNamespaceException frame, and
// the connection stays open afterwards.
func TestTCPPipelined(t *testing.T) {
	for _, d := range []Dispatch{Pool, Inline} {
		t.Run(d.String(), func(t *testing.T) {
			n := startNode(t, Config{Dispatch: d}, server.Config{})
			c := dialAddr(t, n.proxy.Addr())
			const total = 5000
			rng := rand.New(rand.NewPCG(5, 6))
			keys := make([]int32, total)
			var out []byte
			for i := range total {
				keys[i] = int32(rng.IntN(testKeys + testKeys/10)) // ~9% missing
				out = append(out, proxyFrame(int64(i), keys[i])...)
			}
			go c.Write(out)
			missingPayload := codec.UnknownKeyOrNamespacePayload(codec.ServerName)
			seen := make([]bool, total)
			missing := 0
			for range total {
				f, _ := readFrame(t, c)
				if f.RequestID < 0 || f.RequestID >= total || seen[f.RequestID] {
					t.Fatalf("bad or repeated id %d", f.RequestID)
				}
				seen[f.RequestID] = true
				k := keys[f.RequestID]
				if int(k) < testKeys {
					got, err := codec.DecodeKvStateResponse(f.Body)
					want := state.Bytes.Append(nil, dataset.SyntheticValue(nil, int(k), testValueSize))
					if f.Type != codec.RequestResult || err != nil || !bytes.Equal(got, want) {
						t.Fatalf("key %d: %v %x, want %x", k, f.Type, got, want)
					}
				} else {
					if f.Type != codec.RequestFailure || !bytes.Equal(f.Body, missingPayload) {
						t.Fatalf("missing key %d: %v", k, f.Type)
					}
					missing++
				}
			}
			if missing == 0 {
				t.Fatal("no missing key was asked")
			}
			// Still open after the failures.
			c.Write(proxyFrame(total, 3))
			if f, _ := readFrame(t, c); f.RequestID != total || f.Type != codec.RequestResult {
				t.Fatalf("after failures: %+v", f)
			}
			st := n.h.Proxy().Stats()
			if st.Requests != total+1 || st.Failed != int64(missing) || st.Connections != 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestTCPStatePort: KvStateInternalRequests on the state-server port.
func TestTCPStatePort(t *testing.T) {
	n := startNode(t, Config{}, server.Config{})
	id, _ := dataset.SyntheticKvStateID(n.reg)
	c := dialAddr(t, n.state.Addr())
	var out []byte
	for i := range 100 {
		out = codec.AppendKvStateInternalRequestFrame(out, int64(i), codec.KvStateInternalRequest{KvStateID: id, KeyAndNamespace: intKey(int32(i))})
	}
	c.Write(out)
	for range 100 {
		f, _ := readFrame(t, c)
		got, _ := codec.DecodeKvStateResponse(f.Body)
		if !bytes.Equal(got, state.Bytes.Append(nil, dataset.SyntheticValue(nil, int(f.RequestID), testValueSize))) {
			t.Fatalf("id %d: %x", f.RequestID, got)
		}
	}
}

// compareMode says how a golden failure's message is compared.
type compareMode int

const (
	exact     compareMode = iota // equal once Java stack-frame lines are removed
	firstLine                    // same first line ("Failed request N.")
	rootCause                    // same first line, and Flink's root cause text present in ours
	classOnly                    // same class only
)

// goldenDeviations lists the exchanges whose failure text differs from
// Flink's by design; every other one must match exactly.
var goldenDeviations = map[string]compareMode{
	// Flink's JobMaster answers an unknown name with its runtime-only
	// UnknownKvStateLocation; we have no JobMaster and cannot tell an
	// unknown name from an unknown job, so both are UnknownLocationException.
	"proxy/unknown-state-name":  firstLine,
	"direct/unknown-state-name": firstLine,
	// Flink's proxy wraps the state server's failure once more (with the
	// internal request's id); we answer locally, without the second hop.
	"proxy/long-key-for-int-state": rootCause,
	// The generator's one-hop server names itself the proxy; we answer a
	// missing key as a TaskManager's state server does (the proxy/ vectors).
	"direct/missing-key-1005": classOnly,
}

// stripStack removes Java stack-frame lines and trailing space.
func stripStack(msg string) string {
	var keep []string
	for _, line := range strings.Split(msg, "\n") {
		if t := strings.TrimSpace(line); strings.HasPrefix(line, "\t") && (strings.HasPrefix(t, "at ") || strings.HasPrefix(t, "... ")) {
			continue
		}
		keep = append(keep, line)
	}
	return strings.TrimRight(strings.Join(keep, "\n"), " \n\t")
}

// TestTCPGoldenExchanges replays Flink's recorded exchanges, each on a
// fresh connection as the generator did, against the proxy port serving
// the synthetic dataset: the same frames come back (results byte for
// byte; failures with the same class and message).
func TestTCPGoldenExchanges(t *testing.T) {
	vs, err := vectors.Kind("exchange")
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, Config{}, server.Config{})
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			c := dialAddr(t, n.proxy.Addr())
			if _, err := c.Write(v.Hex("request_frame_hex")); err != nil {
				t.Fatal(err)
			}
			f, raw := readFrame(t, c)
			want := v.Hex("response_frame_hex")
			wf, _, err := codec.DecodeFrame(want, len(want))
			if err != nil {
				t.Fatal(err)
			}
			if f.Type.String() != v.Str("response_type") || f.Type != wf.Type || f.RequestID != wf.RequestID {
				t.Fatalf("got %v id %d, want %v id %d", f.Type, f.RequestID, wf.Type, wf.RequestID)
			}
			if f.Type == codec.RequestResult {
				if !bytes.Equal(raw, want) {
					t.Fatalf("frame %x\nwant  %x", raw, want)
				}
				return
			}
			got, err := codec.DecodeFailure(f)
			if err != nil {
				t.Fatal(err)
			}
			wantExc, err := codec.DecodeFailure(wf)
			if err != nil {
				t.Fatal(err)
			}
			if got.Class != v.Str("exception_class") || got.Class != wantExc.Class {
				t.Fatalf("class %s, want %s", got.Class, wantExc.Class)
			}
			g, w := stripStack(got.Message), stripStack(wantExc.Message)
			gFirst, _, _ := strings.Cut(g, "\n")
			wFirst, _, _ := strings.Cut(w, "\n")
			switch goldenDeviations[v.Name] {
			case exact:
				if g != w {
					t.Fatalf("message\n%q\nwant\n%q", g, w)
				}
			case firstLine:
				if gFirst != wFirst {
					t.Fatalf("first line %q, want %q", gFirst, wFirst)
				}
			case rootCause:
				const root = "java.io.IOException: " + state.BadKeyAndNamespaceMessage
				if gFirst != wFirst || !strings.Contains(w, root) || !strings.Contains(g, root) {
					t.Fatalf("message\n%q\nwant first line %q and %q", g, wFirst, root)
				}
			}
			if f.Type == codec.ServerFailure {
				var b [1]byte
				if k, err := c.Read(b[:]); k != 0 || err == nil {
					t.Fatal("connection open after SERVER_FAILURE")
				}
			}
		})
	}
}

// TestTCPOverloadFlood: with a one-worker pool held by a slow state, a
// flood of requests is answered at once with overload failures; nothing
// queues (the pool never runs more than one worker), and the slow request
// is still answered when its state returns.
func TestTCPOverloadFlood(t *testing.T) {
	r := registry.New()
	bs := registerSlow(t, r)
	if err := dataset.RegisterSynthetic(r, testKeys, testValueSize); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, Config{Registry: r, PoolSize: 1}, server.Config{})
	slowConn := dialAddr(t, n.proxy.Addr())
	slowConn.Write(slowFrame(1))
	qstatetest.Recv(t, bs.Entered, qstatetest.Timeout, "the slow request at the state")

	flood := dialAddr(t, n.proxy.Addr())
	const total = 2000
	go func() {
		for i := 0; i < total; i += 100 {
			var out []byte
			for j := i; j < i+100; j++ {
				out = append(out, proxyFrame(int64(j), int32(j%testKeys))...)
			}
			if _, err := flood.Write(out); err != nil {
				return
			}
		}
	}()
	for range total {
		f, _ := readFrame(t, flood)
		exc := failure(t, f)
		if !strings.Contains(exc.Message, "overloaded") {
			t.Fatalf("id %d: %q", f.RequestID, exc.Message)
		}
		if running, _ := n.h.PoolStats(); running > 1 {
			t.Fatalf("pool running %d workers", running)
		}
	}
	if st := n.h.Proxy().Stats(); st.Overloaded != total {
		t.Fatalf("overloaded %d, want %d", st.Overloaded, total)
	}
	bs.Release()
	if f, _ := readFrame(t, slowConn); f.Type != codec.RequestResult || f.RequestID != 1 {
		t.Fatalf("slow request: %+v", f)
	}
}

// TestTCPLargeValueSlowReader: 4 MiB values of the dataset reach a reader
// that reads slowly, intact, while the connection holds at most one answer
// plus the low watermark pending (Stats.MaxOutbound): the second is not
// built while the first waits.
func TestTCPLargeValueSlowReader(t *testing.T) {
	const size = 4 << 20
	r := registry.New()
	if err := dataset.RegisterSynthetic(r, 2, size); err != nil {
		t.Fatal(err)
	}
	scfg := server.Config{SocketSendBuffer: 32 << 10}
	n := startNode(t, Config{Registry: r}, scfg)
	c := qstatetest.DialWindow(t, n.proxy.Addr().String(), 16<<10)
	c.Write(append(proxyFrame(0, 0), proxyFrame(1, 1)...))
	// Not reading until the server holds back (a counter: no event for it).
	qstatetest.Eventually(t, ioTimeout, func() bool { return n.proxy.Stats().BackpressureStarts > 0 }, "the server to hold the connection back")
	answer := 0
	for range 2 {
		f, _ := readFrame(t, &chunkReader{c, 4 << 10})
		got, _ := codec.DecodeKvStateResponse(f.Body)
		want := state.Bytes.Append(nil, dataset.SyntheticValue(nil, int(f.RequestID), size))
		if !bytes.Equal(got, want) {
			t.Fatalf("4 MiB value %d corrupted", f.RequestID)
		}
		answer = codec.ResultFrameSize(len(want))
	}
	if m := n.proxy.Stats().MaxOutbound; m > int64(answer+server.DefaultLowWatermark) {
		t.Fatalf("%d answer bytes pending at most, want at most one answer (%d) and the low watermark", m, answer)
	}
}

type chunkReader struct {
	r io.Reader
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

// TestTCPShutdownInFlight: shutting a node down with requests in flight
// answers them and leaves no goroutine behind.
func TestTCPShutdownInFlight(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	h, bs := newSlowHandler(t)
	s, stop := servertest.Start(t, server.Config{}, h.Proxy())
	c := qstatetest.Dial(t, s.Addr().String())
	defer c.Close()
	c.Write(slowFrame(7))
	qstatetest.Recv(t, bs.Entered, ioTimeout, "the request at the state")
	var wg sync.WaitGroup
	var closeErr error
	wg.Go(func() {
		stop() // Shutdown, and Serve returned ErrServerClosed (it fails t if not)
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		closeErr = h.Close(ctx)
	})
	bs.Release()
	if f, _ := readFrame(t, c); f.RequestID != 7 || f.Type != codec.RequestResult {
		t.Fatalf("in-flight request: %+v", f)
	}
	wg.Wait()
	if closeErr != nil {
		t.Fatal(closeErr)
	}
}

// TestTCPPipelinedLargeValuesIntact: connections that keep 16 requests
// for random 1 MiB values in flight (over the per-request answer budget,
// so batches are answered in part and their other requests deferred; lent
// values; workers' direct writes, cut by the kernel, and the loop's, with
// the default dispatch) read every answer whole and byte for byte right:
// the stream is never cut or interleaved. Bounded by count and by time:
// the race detector makes each byte dearer (about 400 answers in the time
// instead of 4,000). With direct writes left on for a batch with deferred
// requests (server.TestDirectWriteDeferredHandsOver) it failed in 3 runs of
// 3 without the race detector, in none of 2 with it: a guard for the
// stream, the server test the one for that race.
func TestTCPPipelinedLargeValuesIntact(t *testing.T) {
	const conns, pipeline, perConn, keys, size = 4, 16, 1000, 32, 1 << 20
	r := registry.New()
	if err := dataset.RegisterSynthetic(r, keys, size); err != nil {
		t.Fatal(err)
	}
	want := make([][]byte, keys)
	for k := range want {
		want[k] = state.Bytes.Append(nil, dataset.SyntheticValue(nil, k, size))
	}
	n := startNode(t, Config{Registry: r}, server.Config{})
	stop := time.Now().Add(3 * time.Second) // no new request after this
	type result struct {
		answers int
		err     error
	}
	results := make(chan result, conns)
	for c := range conns {
		conn := qstatetest.Dial(t, n.proxy.Addr().String())
		go func() {
			rng := rand.New(rand.NewPCG(uint64(c), 1))
			keyOf := make(map[int64]int32, pipeline)
			next := int64(0)
			send := func() error {
				k := rng.Int32N(keys)
				keyOf[next] = k
				_, err := conn.Write(proxyFrame(next, k))
				next++
				return err
			}
			for range pipeline {
				if err := send(); err != nil {
					results <- result{err: err}
					return
				}
			}
			br := bufio.NewReaderSize(conn, 64<<10)
			for got := 0; got < int(next); got++ {
				_ = conn.SetDeadline(time.Now().Add(ioTimeout))
				f, _, err := qstatetest.ReadFrame(br)
				if err != nil {
					results <- result{err: fmt.Errorf("connection %d, answer %d: %w", c, got, err)}
					return
				}
				k, ok := keyOf[f.RequestID]
				v, verr := codec.DecodeKvStateResponse(f.Body)
				if !ok || f.Type != codec.RequestResult || verr != nil || !bytes.Equal(v, want[k]) {
					results <- result{err: fmt.Errorf("connection %d, answer %d: %v for id %d (known %v), %d bytes, %v: not the value of key %d", c, got, f.Type, f.RequestID, ok, len(v), verr, k)}
					return
				}
				delete(keyOf, f.RequestID)
				if int(next) < perConn && time.Now().Before(stop) {
					if err := send(); err != nil {
						results <- result{err: err}
						return
					}
				}
			}
			results <- result{answers: int(next)}
		}()
	}
	total := 0
	for range conns {
		res := qstatetest.Recv(t, results, 2*ioTimeout, "a connection's answers")
		if res.err != nil {
			t.Fatal(res.err)
		}
		total += res.answers
	}
	t.Logf("%d answers of 1 MiB checked", total)
}
