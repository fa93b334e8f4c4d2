package state_test

import (
	"fmt"

	"github.com/qstate/qstate/state"
)

// A task counts clicks per user in a VoidNamespace ValueState; a query for
// "hello" carries Flink's serialized key and namespace and gets the value's
// bytes (PROTOCOL.md §5.1 and §5.4).
func ExampleValueState_Void() {
	clicks := state.NewValueState(state.String, state.Void, state.Long)
	c := clicks.Void()
	n, _ := c.Value("hello")
	c.Update("hello", n+1)

	kn := state.AppendKeyAndNamespace(nil, state.String, "hello", state.Void, state.VoidNamespace{})
	ans, found, err := clicks.Get(kn)
	fmt.Printf("key&ns %x -> %x %v %v\n", kn, ans, found, err)
	_, found, err = clicks.Get(state.AppendKeyAndNamespace(nil, state.String, "other", state.Void, state.VoidNamespace{}))
	fmt.Println("other:", found, err)
	// Output:
	// key&ns 0668656c6c6f2a00 -> 0000000000000001 true <nil>
	// other: false <nil>
}

// A list answers Flink's list content: elements with one ',' between
// (PROTOCOL.md §5.2).
func ExampleListState() {
	l := state.NewListState(state.Int, state.Void, state.Long)
	for _, v := range []int64{1, 2, 3} {
		l.Void().Add(7, v)
	}
	ans, _, _ := l.Get(state.AppendKeyAndNamespace(nil, state.Int, 7, state.Void, state.VoidNamespace{}))
	fmt.Printf("%x\n", ans)
	// Output:
	// 00000000000000012c00000000000000022c0000000000000003
}
