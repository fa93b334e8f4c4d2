// Command embedded is a small Go task with queryable state, the shape a
// task runtime takes: events are partitioned by key group to two parallel
// subtasks (as Flink's keyBy does), each subtask updates its own states
// and registers them for its key-group range, and queries are answered
// from the registry exactly as the server's handler will: location by job
// and state name, key group of the Java hashCode, owner, KvState.Get.
//
//	go run ./examples/embedded
package main

import (
	"fmt"
	"io"
	"log"
	"os"
	"sync"

	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/state"
)

// view is one event of the stream: a user looked at a page for some time.
type view struct {
	user, page string
	millis     int64
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
	st.clicks.Void().Add(v.user, 1)
	recent := st.recent.Void()
	pages := append(recent.Elements(v.user), v.page)
	recent.Update(v.user, pages[max(0, len(pages)-3):])
	n, _ := st.pages.Void().Lookup(v.user, v.page)
	st.pages.Void().Put(v.user, v.page, n+1)
	st.avg.Void().Add(v.user, v.millis)
	st.last.Void().Update(v.user, state.Tuple2[string, int64]{F0: v.page, F1: v.millis})
}

// query answers as the proxy does for a Flink client's KvStateRequest.
func query(reg *registry.Registry, job registry.JobID, name, user string) ([]byte, error) {
	keyHash := state.String.HashCode(user) // what QueryableStateClient sends
	keyAndNS := state.AppendKeyAndNamespace(nil, state.String, user, state.Void, state.VoidNamespace{})
	loc, ok := reg.Location(job, []byte(name))
	if !ok {
		return nil, fmt.Errorf("no state %q", name)
	}
	owner, ok := loc.Owner(loc.KeyGroup(keyHash))
	if !ok || !owner.Local() {
		return nil, fmt.Errorf("key group of %q not here", user)
	}
	kv, ok := reg.KvState(owner.ID)
	if !ok {
		return nil, fmt.Errorf("unknown KvStateID %s", owner.ID)
	}
	ans, found, err := kv.Get(keyAndNS)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("no state for key %q", user) // UnknownKeyOrNamespaceException
	}
	return ans, nil
}

func main() {
	if err := run(os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// users and pages of the generated events.
var (
	users = []string{"alice", "bob", "carol", "dave"}
	pages = []string{"/", "/docs", "/blog", "/pricing"}
)

// events is the input stream: every user views every page in turn.
func events() []view {
	var vs []view
	for i := range 40 {
		vs = append(vs, view{user: users[i%len(users)], page: pages[(i/len(users)+i%len(users))%len(pages)], millis: int64(100 + 37*i%250)})
	}
	return vs
}

func run(w io.Writer) error {
	reg := registry.New()
	job, err := registry.ParseJobID("5bd0a8a2c1f3e4d5a6b7c8d9e0f1a2b3")
	if err != nil {
		return err
	}
	subtasks := make([]*subtask, parallelism)
	inputs := make([]chan view, parallelism)
	var wg sync.WaitGroup
	for i := range subtasks {
		if subtasks[i], err = newSubtask(reg, job, i); err != nil {
			return err
		}
		inputs[i] = make(chan view, 16)
		wg.Go(func() {
			for v := range inputs[i] {
				subtasks[i].process(v)
			}
		})
	}

	// keyBy(user): route each event to the subtask owning its key group.
	for _, v := range events() {
		kg := registry.KeyGroupForHash(state.String.HashCode(v.user), maxP)
		inputs[registry.OperatorIndex(maxP, parallelism, kg)] <- v
	}
	for _, in := range inputs {
		close(in)
	}
	wg.Wait()

	for _, user := range users {
		kg := registry.KeyGroupForHash(state.String.HashCode(user), maxP)
		fmt.Fprintf(w, "%s (key group %d, subtask %d)\n", user, kg, registry.OperatorIndex(maxP, parallelism, kg))
		if b, err := query(reg, job, "clicks", user); err == nil {
			n, _, _ := state.Long.Read(b)
			fmt.Fprintf(w, "  clicks       %x = %d\n", b, n)
		}
		if b, err := query(reg, job, "recent-pages", user); err == nil {
			l, _ := state.ReadList(state.String, b)
			fmt.Fprintf(w, "  recent-pages %x = %q\n", b, l)
		}
		if b, err := query(reg, job, "pages", user); err == nil {
			m, _ := state.ReadMap(state.String, state.Long, b)
			fmt.Fprintf(w, "  pages        %d bytes =", len(b))
			for _, p := range pages {
				if n := m[p]; n != nil {
					fmt.Fprintf(w, " %s:%d", p, *n)
				}
			}
			fmt.Fprintln(w)
		}
		if b, err := query(reg, job, "avg-millis", user); err == nil {
			acc, _, _ := state.Tuple2Of(state.Long, state.Long).Read(b)
			fmt.Fprintf(w, "  avg-millis   accumulator %x = %.1f\n", b, mean{}.Result(acc))
		}
		if b, err := query(reg, job, "last-view", user); err == nil {
			lv, _, _ := state.Tuple2Of(state.String, state.Long).Read(b)
			fmt.Fprintf(w, "  last-view    %x = %s for %d ms\n", b, lv.F0, lv.F1)
		}
	}
	if _, err := query(reg, job, "clicks", "mallory"); err != nil {
		fmt.Fprintln(w, "mallory:", err)
	}

	// A stopping task unregisters its states; the names then disappear.
	for _, st := range subtasks {
		for _, id := range st.ids {
			if err := reg.Unregister(id); err != nil {
				return err
			}
		}
	}
	_, ok := reg.Location(job, []byte("clicks"))
	fmt.Fprintln(w, "after unregister, clicks is registered:", ok)
	return nil
}
