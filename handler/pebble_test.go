package handler

import (
	"bytes"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/internal/pebbletest"
	"github.com/qstate/qstate/internal/qstatetest"
	"github.com/qstate/qstate/pebblestate"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/server"
	"github.com/qstate/qstate/state"
)

// pebbleRegistry returns a registry holding the synthetic state in a Pebble
// store on disk opened with opts (its values flushed to sstables). The store
// closes at cleanup; registered before the node's, that runs after the
// node's shutdown.
func pebbleRegistry(t *testing.T, opts pebblestate.Options) *registry.Registry {
	t.Helper()
	db, err := pebblestate.Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	s, _, err := dataset.OpenSynthetic(db, testKeys, testValueSize)
	if err != nil {
		t.Fatal(err)
	}
	r := registry.New()
	if err := dataset.RegisterSyntheticState(r, s); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestTCPDiskReadFailure: with the synthetic state in a Pebble store whose
// disk reads fail, a request over TCP is answered with a failure naming
// the read error, and the connection stays open: once the disk reads
// again, the next request on the same connection gets its value (inline
// dispatch: the look-ups still run on the pool).
func TestTCPDiskReadFailure(t *testing.T) {
	fs := pebbletest.NewFailingReads()
	r := pebbleRegistry(t, pebblestate.Options{FS: fs, CacheSize: 1 << 20})
	n := startNode(t, Config{Registry: r, Dispatch: Inline}, server.Config{})
	c := dialAddr(t, n.proxy.Addr())
	defer c.Close()

	fs.Fail.Store(true)
	if _, err := c.Write(proxyFrame(1, 700)); err != nil {
		t.Fatal(err)
	}
	f, _ := qstatetest.MustReadFrame(t, c)
	exc := failure(t, f)
	if f.RequestID != 1 || !strings.Contains(exc.Message, pebbletest.ErrRead.Error()) {
		t.Fatalf("answer to a failed read: id %d %s %q", f.RequestID, exc.Class, exc.Message)
	}
	fs.Fail.Store(false)
	if _, err := c.Write(proxyFrame(2, 700)); err != nil {
		t.Fatalf("connection closed after the failure: %v", err)
	}
	f, _ = qstatetest.MustReadFrame(t, c)
	content, err := codec.DecodeKvStateResponse(f.Body)
	if f.Type != codec.RequestResult || err != nil || !bytes.Equal(content, state.Bytes.Append(nil, dataset.SyntheticValue(nil, 700, testValueSize))) {
		t.Fatalf("after the disk recovered: %v %x %v", f.Type, content, err)
	}
	if st := n.h.Proxy().Stats(); st.Results[ResultError] != 1 || st.Successful != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestSlowDiskFillsThePool: with the synthetic state in a Pebble store
// whose disk reads hang, a look-up holds a pool worker, not an event loop:
// with the one worker busy, the next batch is refused at once with the
// overload failure (inline dispatch too), and the hung request is answered
// once the disk responds.
func TestSlowDiskFillsThePool(t *testing.T) {
	var slow atomic.Bool
	gate := make(chan struct{})
	entered := make(chan struct{}, 1)
	fs := pebbletest.OnSSTRead(func() error {
		if slow.Load() {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-gate
		}
		return nil
	})
	r := pebbleRegistry(t, pebblestate.Options{FS: fs, CacheSize: 1 << 20})
	var release sync.Once
	open := func() { slow.Store(false); release.Do(func() { close(gate) }) }
	t.Cleanup(open) // before the store closes, even if the test fails with reads hung
	h, _ := newHandler(t, Config{Registry: r, Dispatch: Inline, PoolSize: 1})
	slow.Store(true)
	first := make(chan []byte, 1)
	h.Proxy().ServeBatch(proxyFrame(1, 700), 1, func(out []byte) { first <- out })
	select {
	case <-entered: // ServeBatch returned; a worker waits on the disk
	case <-time.After(10 * time.Second):
		t.Fatal("the look-up never reached the disk")
	}
	if running, capacity := h.PoolStats(); running != 1 || capacity != 1 {
		t.Fatalf("pool %d of %d running, want the one worker busy", running, capacity)
	}
	answers, early := serve(t, h.Proxy(), proxyFrame(2, 701))
	if exc := failure(t, answers[2]); !early || !strings.Contains(exc.Message, "overloaded") {
		t.Fatalf("with the pool full: early %v, %q", early, exc.Message)
	}
	open()
	var out []byte
	select {
	case out = <-first:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow request was never answered")
	}
	f, _, err := qstatetest.ReadFrame(bytes.NewReader(out))
	content, _ := codec.DecodeKvStateResponse(f.Body)
	if err != nil || f.Type != codec.RequestResult || !bytes.Equal(content, state.Bytes.Append(nil, dataset.SyntheticValue(nil, 700, testValueSize))) {
		t.Fatalf("slow request: %v %x %v", f.Type, content, err)
	}
	putBuf(out)
	if st := h.Proxy().Stats(); st.Overloaded != 1 || st.Successful != 1 {
		t.Fatalf("stats %+v", st)
	}
}
