package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qstate/qstate/client"
	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/internal/javatest"
	"github.com/qstate/qstate/internal/qstatetest"
	"github.com/qstate/qstate/node"
	"github.com/qstate/qstate/state"
)

// javaClient is the Java query client of package handler's tests
// (QueryKey) with the Flink exception stubs it deserializes failures
// into: reused, not copied.
var javaClient = javatest.New(filepath.Join("..", "..", "handler", "testdata", "java"))

func TestMain(m *testing.M) { javatest.Main(m) }

// expected is what the first events leave in each user's states.
type expected struct {
	clicks int64
	recent []string
	pages  map[string]int64
	sum    int64 // avg-millis accumulator (sum, count)
	count  int64
	last   view
}

func expectedStates() map[string]*expected {
	want := map[string]*expected{}
	for _, v := range events() {
		e := want[v.user]
		if e == nil {
			e = &expected{pages: map[string]int64{}}
			want[v.user] = e
		}
		e.clicks++
		e.recent = append(e.recent, v.page)
		e.recent = e.recent[max(0, len(e.recent)-3):]
		e.pages[v.page]++
		e.sum += v.millis
		e.count++
		e.last = v
	}
	return want
}

// startTask starts the example's task on free loopback ports, processes
// the first events and keeps feeding liveUser's views until the test ends.
// It returns the task and the number of live views sent so far.
func startTask(t *testing.T) (*task, func() int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), qstatetest.Timeout)
	defer cancel()
	tk, err := start(ctx, node.Config{ProxyAddr: "127.0.0.1:0", StateAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range events() {
		tk.send(v)
	}
	tk.send(view{user: liveUser, page: "/", millis: 100})
	tk.processed()

	// The task keeps updating while the test queries: liveUser views a
	// page every millisecond, at most 100,000 times.
	var mu sync.Mutex
	sent := 1
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for i := 1; i < 100_000; i++ {
			select {
			case <-done:
				return
			case <-tick.C:
				tk.send(view{user: liveUser, page: pages[i%len(pages)], millis: int64(i % 300)})
				mu.Lock()
				sent++
				mu.Unlock()
			}
		}
	})
	t.Cleanup(func() {
		close(done)
		wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), qstatetest.Timeout)
		defer cancel()
		if err := tk.stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return tk, func() int { mu.Lock(); defer mu.Unlock(); return sent }
}

// TestGoClient: the task's states answer over TCP, through the node's
// proxy port, to the Go client while the task keeps updating: value,
// list, map, reducing and aggregating states of every user equal what the
// events left, a user with no state fails with Flink's
// UnknownKeyOrNamespaceException, and the live user's counts only grow.
func TestGoClient(t *testing.T) {
	tk, sent := startTask(t)
	proxy, _ := tk.node.Addrs()
	addr := proxy.String()
	c, err := client.New(client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), qstatetest.Timeout)
	defer cancel()
	job := tk.job

	for user, e := range expectedStates() {
		clicks, err := client.GetValue(ctx, c, addr, job, "clicks", state.String, user, state.Long) // ReducingState
		if err != nil || clicks != e.clicks {
			t.Errorf("%s clicks = %d, %v; want %d", user, clicks, err, e.clicks)
		}
		recent, err := client.GetList(ctx, c, addr, job, "recent-pages", state.String, user, state.String) // ListState
		if err != nil || !reflect.DeepEqual(recent, e.recent) {
			t.Errorf("%s recent-pages = %q, %v; want %q", user, recent, err, e.recent)
		}
		perPage, err := client.GetMap(ctx, c, addr, job, "pages", state.String, user, state.String, state.Long) // MapState
		got := map[string]int64{}
		for p, n := range perPage {
			if n == nil {
				t.Errorf("%s pages[%s] is null", user, p)
				continue
			}
			got[p] = *n
		}
		if err != nil || !reflect.DeepEqual(got, e.pages) {
			t.Errorf("%s pages = %v, %v; want %v", user, got, err, e.pages)
		}
		acc, err := client.GetValue(ctx, c, addr, job, "avg-millis", state.String, user, state.Tuple2Of(state.Long, state.Long)) // AggregatingState
		if err != nil || acc.F0 != e.sum || acc.F1 != e.count {
			t.Errorf("%s avg-millis accumulator = %v, %v; want (%d, %d)", user, acc, err, e.sum, e.count)
		}
		last, err := client.GetValue(ctx, c, addr, job, "last-view", state.String, user, state.Tuple2Of(state.String, state.Long)) // ValueState
		if err != nil || last.F0 != e.last.page || last.F1 != e.last.millis {
			t.Errorf("%s last-view = %v, %v; want (%s, %d)", user, last, err, e.last.page, e.last.millis)
		}
	}
	if _, err := client.GetValue(ctx, c, addr, job, "clicks", state.String, "mallory", state.Long); !errors.Is(err, codec.ErrUnknownKeyOrNamespace) {
		t.Errorf("missing key: %v, want UnknownKeyOrNamespaceException", err)
	}

	// The live user's clicks grow while we query, never go back, and never
	// pass what the task was sent.
	var prev int64
	deadline := time.Now().Add(qstatetest.Timeout)
	for i := 0; i < 100_000 && prev < 20 && time.Now().Before(deadline); i++ {
		n, err := client.GetValue(ctx, c, addr, job, "clicks", state.String, liveUser, state.Long)
		if err != nil {
			t.Fatalf("%s clicks: %v", liveUser, err)
		}
		if n < prev || n > int64(sent()) {
			t.Fatalf("%s clicks went from %d to %d (%d sent)", liveUser, prev, n, sent())
		}
		prev = n
	}
	if prev < 20 {
		t.Errorf("%s clicks reached only %d while the task kept updating", liveUser, prev)
	}
}

// TestRun: the program serves, prints every user's states as queried over
// TCP and the missing key's failure, keeps updating until its context
// ends, then stops cleanly.
func TestRun(t *testing.T) {
	var out qstatetest.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- run(ctx, &out, "127.0.0.1:0", "127.0.0.1:0", time.Millisecond) }()
	text := out.WaitFor(t, qstatetest.Timeout, liveUser+" keeps viewing pages")
	cancel()
	if err := qstatetest.Recv(t, ran, qstatetest.Timeout, "run to return"); err != nil {
		t.Fatalf("run: %v", err)
	}
	for user, e := range expectedStates() {
		for _, w := range []string{
			fmt.Sprintf("%s (key group", user),
			fmt.Sprintf("clicks       = %d\n", e.clicks),
			fmt.Sprintf("accumulator (%d, %d)", e.sum, e.count),
			fmt.Sprintf("last-view    = %s for %d ms", e.last.page, e.last.millis),
		} {
			if !strings.Contains(text, w) {
				t.Errorf("output lacks %q:\n%s", w, text)
			}
		}
	}
	for _, w := range []string{"serving job " + jobID + ": proxy port 127.0.0.1:", "mallory: no state:", "UnknownKeyOrNamespaceException"} {
		if !strings.Contains(text, w) {
			t.Errorf("output lacks %q:\n%s", w, text)
		}
	}
}

// TestJavaClient: Flink's wire protocol as a Java client speaks it
// (QueryKey: the key serialized by Flink's StringSerializer, Java's
// String.hashCode as the key hash, failures read with ObjectInputStream
// into Flink's exception classes) gets, for every state of every user,
// the bytes the Go client gets, and a user with no state fails with
// UnknownKeyOrNamespaceException, while the task keeps updating. Skipped
// only when javac or java is not installed.
func TestJavaClient(t *testing.T) {
	tk, _ := startTask(t)
	proxy, _ := tk.node.Addrs()
	c, err := client.New(client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	names := []string{"clicks", "recent-pages", "pages", "avg-millis", "last-view"}
	args := []string{proxy.IP.String(), strconv.Itoa(proxy.Port), jobID}
	var want []string
	for _, user := range users {
		kn := state.AppendKeyAndNamespace(nil, state.String, user, state.Void, state.VoidNamespace{})
		for _, name := range names {
			content, err := c.GetKvState(ctx, proxy.String(), tk.job, name, state.String.HashCode(user), kn)
			if err != nil {
				t.Fatalf("Go client %s %s: %v", name, user, err)
			}
			args = append(args, name, user)
			want = append(want, fmt.Sprintf("VALUE %s %s %s", name, user, hex.EncodeToString(content)))
		}
	}
	args = append(args, "clicks", "mallory", "clicks", liveUser)
	want = append(want, "FAILURE clicks mallory org.apache.flink.queryablestate.exceptions.UnknownKeyOrNamespaceException "+
		"Queryable State Server : No state for the specified key/namespace.")

	out, err := javaClient.Command(ctx, t, "QueryKey", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("Java client: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(want)+1 {
		t.Fatalf("Java client printed %d lines, want %d:\n%s", len(lines), len(want)+1, out)
	}
	for i, w := range want {
		if lines[i] != w {
			t.Errorf("Java client:\n got %s\nwant %s", lines[i], w)
		}
	}
	// The live user's clicks: a value (a Long, 8 bytes) that exists.
	if live := lines[len(want)]; !strings.HasPrefix(live, "VALUE clicks "+liveUser+" ") || len(strings.Fields(live)[3]) != 16 {
		t.Errorf("Java client, live user: %s", live)
	}
}
