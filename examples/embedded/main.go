// Command embedded is a small Go task with queryable state, the shape a
// task runtime takes: events are partitioned by key group to two parallel
// subtasks (as Flink's keyBy does), each subtask updates its own states
// and registers them for its key-group range, and a node (package node)
// serves them on Flink's two ports while the task keeps updating them.
// Anything that speaks the protocol queries them over TCP: Flink's
// QueryableStateClient, `qstate query`, or the Go client, with which this
// program queries itself once its first events are in.
//
//	go run ./examples/embedded                    # proxy 127.0.0.1:9069, state server 127.0.0.1:9067
//	go run ./examples/embedded -proxy 127.0.0.1:0 # any free ports
//
// Embedding takes about five lines (start and stop, below): a registry,
// the states registered in it, node.New, Start, and Shutdown when the task
// stops.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/qstate/qstate/client"
	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/node"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/state"
)

// view is one event of the stream: a user looked at a page for some time.
type view struct {
	user, page string
	millis     int64
	mark       bool // not an event: the subtask reports it has processed what came before
}

// subtask is one parallel instance of the task: its states hold the keys
// of its key-group range only.
type subtask struct {
	clicks *state.ReducingState[string, state.VoidNamespace, int64]                     // views per user
	recent *state.ListState[string, state.VoidNamespace, string]                        // last 3 pages per user
	pages  *state.MapState[string, state.VoidNamespace, string, int64]                  // views per user and page
	avg    *state.AggregatingState[string, state.VoidNamespace, int64, avgAcc, float64] // mean view time per user
	last   *state.ValueState[string, state.VoidNamespace, state.Tuple2[string, int64]]  // last (page, millis)
	ids    []registry.KvStateID
	marks  chan func() // processed: what to call when a mark comes through
}

type avgAcc = state.Tuple2[int64, int64] // (sum, count): the accumulator a query returns

type mean struct{}

func (mean) CreateAccumulator() avgAcc       { return avgAcc{} }
func (mean) Add(in int64, acc avgAcc) avgAcc { return avgAcc{F0: acc.F0 + in, F1: acc.F1 + 1} }
func (mean) Result(acc avgAcc) float64       { return float64(acc.F0) / float64(acc.F1) }

const (
	parallelism = 2
	maxP        = registry.DefaultMaxParallelism
)

func newSubtask(reg *registry.Registry, job registry.JobID, index int) (*subtask, error) {
	st := &subtask{
		clicks: state.NewReducingState(state.String, state.Void, state.Long, func(a, b int64) int64 { return a + b }),
		recent: state.NewListState(state.String, state.Void, state.String),
		pages:  state.NewMapState(state.String, state.Void, state.String, state.Long),
		avg:    state.NewAggregatingState(state.String, state.Void, state.Tuple2Of(state.Long, state.Long), mean{}),
		last:   state.NewValueState(state.String, state.Void, state.Tuple2Of(state.String, state.Long)),
		marks:  make(chan func(), 1),
	}
	kgr := registry.KeyGroupRangeFor(maxP, parallelism, index)
	for name, s := range map[string]state.KvState{
		"clicks": st.clicks, "recent-pages": st.recent, "pages": st.pages, "avg-millis": st.avg, "last-view": st.last,
	} {
		id, err := reg.Register(job, name, kgr, maxP, s)
		if err != nil {
			return nil, err
		}
		st.ids = append(st.ids, id)
	}
	return st, nil
}

// process is the task's per-event logic.
func (st *subtask) process(v view) {
	if v.mark {
		(<-st.marks)()
		return
	}
	st.clicks.Void().Add(v.user, 1)
	recent := st.recent.Void()
	pages := append(recent.Elements(v.user), v.page)
	recent.Update(v.user, pages[max(0, len(pages)-3):])
	n, _ := st.pages.Void().Lookup(v.user, v.page)
	st.pages.Void().Put(v.user, v.page, n+1)
	st.avg.Void().Add(v.user, v.millis)
	st.last.Void().Update(v.user, state.Tuple2[string, int64]{F0: v.page, F1: v.millis})
}

// jobID is the task's JobID, which queries name.
const jobID = "5bd0a8a2c1f3e4d5a6b7c8d9e0f1a2b3"

// users and pages of the generated events.
var (
	users = []string{"alice", "bob", "carol", "dave"}
	pages = []string{"/", "/docs", "/blog", "/pricing"}
)

// events is the first part of the input stream: every user views every
// page in turn.
func events() []view {
	var vs []view
	for i := range 40 {
		vs = append(vs, view{user: users[i%len(users)], page: pages[(i/len(users)+i%len(users))%len(pages)], millis: int64(100 + 37*i%250)})
	}
	return vs
}

// liveUser is the user whose views keep coming after the first events,
// while the task serves queries.
const liveUser = "eve"

// task is the running task: its subtasks, their inputs, and the node that
// serves their states.
type task struct {
	reg      *registry.Registry
	job      registry.JobID
	subtasks []*subtask
	inputs   []chan view
	wg       sync.WaitGroup
	node     *node.Node
}

// start registers the subtasks' states, starts their goroutines, and
// serves the registry on cfg's ports. Stop it with stop.
func start(ctx context.Context, cfg node.Config) (*task, error) {
	job, err := registry.ParseJobID(jobID)
	if err != nil {
		return nil, err
	}
	t := &task{reg: registry.New(), job: job}
	for i := range parallelism {
		st, err := newSubtask(t.reg, job, i)
		if err != nil {
			return nil, err
		}
		in := make(chan view, 16)
		t.subtasks, t.inputs = append(t.subtasks, st), append(t.inputs, in)
		t.wg.Go(func() {
			for v := range in {
				st.process(v)
			}
		})
	}
	// The embedding itself: serve the registry on Flink's two ports.
	if t.node, err = node.New(t.reg, cfg); err == nil {
		err = t.node.Start(ctx)
	}
	if err != nil {
		return nil, errors.Join(err, t.stop(context.Background()))
	}
	return t, nil
}

// send routes v to the subtask that owns its key group (keyBy(user)).
func (t *task) send(v view) {
	kg := registry.KeyGroupForHash(state.String.HashCode(v.user), maxP)
	t.inputs[registry.OperatorIndex(maxP, parallelism, kg)] <- v
}

// stop ends the subtasks, unregisters their states (their names then
// disappear) and shuts the node down.
func (t *task) stop(ctx context.Context) error {
	for _, in := range t.inputs {
		close(in)
	}
	t.wg.Wait()
	var errs []error
	for _, st := range t.subtasks {
		for _, id := range st.ids {
			errs = append(errs, t.reg.Unregister(id))
		}
	}
	if t.node != nil {
		errs = append(errs, t.node.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// processed waits until every subtask has processed what was sent to it
// before (each input is a FIFO: a marker sent last comes out last).
func (t *task) processed() {
	var wg sync.WaitGroup
	for _, st := range t.subtasks {
		wg.Add(1)
		st.marks <- wg.Done
	}
	for i, in := range t.inputs {
		in <- view{mark: true, user: fmt.Sprint(i)}
	}
	wg.Wait()
}

// queryAll queries every state of every user, and a user with no state,
// over TCP through the proxy port with the Go client, as Flink's
// QueryableStateClient would, and prints the answers.
func queryAll(ctx context.Context, w io.Writer, proxy string, job registry.JobID) error {
	c, err := client.New(client.Config{})
	if err != nil {
		return err
	}
	defer c.Close()
	for _, user := range append(users, liveUser) {
		kg := registry.KeyGroupForHash(state.String.HashCode(user), maxP)
		fmt.Fprintf(w, "%s (key group %d, subtask %d)\n", user, kg, registry.OperatorIndex(maxP, parallelism, kg))
		clicks, err := client.GetValue(ctx, c, proxy, job, "clicks", state.String, user, state.Long)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  clicks       = %d\n", clicks)
		recent, err := client.GetList(ctx, c, proxy, job, "recent-pages", state.String, user, state.String)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  recent-pages = %q\n", recent)
		perPage, err := client.GetMap(ctx, c, proxy, job, "pages", state.String, user, state.String, state.Long)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  pages        =")
		for _, p := range pages {
			if n := perPage[p]; n != nil {
				fmt.Fprintf(w, " %s:%d", p, *n)
			}
		}
		fmt.Fprintln(w)
		acc, err := client.GetValue(ctx, c, proxy, job, "avg-millis", state.String, user, state.Tuple2Of(state.Long, state.Long))
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  avg-millis   accumulator (%d, %d) = %.1f\n", acc.F0, acc.F1, mean{}.Result(acc))
		last, err := client.GetValue(ctx, c, proxy, job, "last-view", state.String, user, state.Tuple2Of(state.String, state.Long))
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  last-view    = %s for %d ms\n", last.F0, last.F1)
	}
	_, err = client.GetValue(ctx, c, proxy, job, "clicks", state.String, "mallory", state.Long)
	if !errors.Is(err, codec.ErrUnknownKeyOrNamespace) {
		return fmt.Errorf("mallory: %v, want Flink's UnknownKeyOrNamespaceException", err)
	}
	fmt.Fprintln(w, "mallory: no state:", err)
	return nil
}

// run is the program: start the task and its node, process the first
// events, query every state over TCP, then keep the task updating
// liveUser's states every interval until ctx ends.
func run(ctx context.Context, w io.Writer, proxyAddr, stateAddr string, interval time.Duration) error {
	t, err := start(ctx, node.Config{ProxyAddr: proxyAddr, StateAddr: stateAddr})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := t.stop(sctx); err != nil {
			log.Print(err)
		}
	}()
	proxy, stateServer := t.node.Addrs()
	fmt.Fprintf(w, "serving job %s: proxy port %s, state-server port %s\n", jobID, proxy, stateServer)

	for _, v := range events() {
		t.send(v)
	}
	t.send(view{user: liveUser, page: "/", millis: 100})
	t.processed()
	if err := queryAll(ctx, w, proxy.String(), t.job); err != nil {
		return err
	}
	fmt.Fprintf(w, "%s keeps viewing pages; query away, e.g.\n  qstate query --addr %s --job %s --state clicks --key %s --key-type string --value-type long\n",
		liveUser, proxy, jobID, liveUser)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 1; ; i++ {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			t.send(view{user: liveUser, page: pages[i%len(pages)], millis: int64(100 + i%300)})
		}
	}
}

func main() {
	proxy := flag.String("proxy", "127.0.0.1:9069", "proxy port (KvStateRequest, Flink's QueryableStateClient)")
	stateAddr := flag.String("state", "127.0.0.1:9067", "state-server port (KvStateInternalRequest)")
	interval := flag.Duration("interval", 100*time.Millisecond, "time between two events of "+liveUser)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, *proxy, *stateAddr, *interval); err != nil {
		log.Fatal(err)
	}
}
