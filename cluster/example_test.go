package cluster_test

import (
	"context"
	"fmt"

	"github.com/qstate/qstate/cluster"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/state"
)

// A node reads the description, registers its view, and routes keys by
// key group: its own ranges answer locally, the others are its peers'.
func ExampleApply() {
	c, err := cluster.Parse([]byte(`{
	  "nodes": [
	    {"name": "a", "proxy": "127.0.0.1:9069", "state": "127.0.0.1:9067"},
	    {"name": "b", "proxy": "127.0.0.1:9169", "state": "127.0.0.1:9167"}
	  ],
	  "states": [
	    {"job": "00112233445566778899aabbccddeeff", "name": "clicks", "maxParallelism": 128,
	     "ranges": [{"node": "a", "keyGroups": "0-63"}, {"node": "b", "keyGroups": "64-127"}]}
	  ]
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	clicks := state.NewValueState(state.String, state.Void, state.Long)
	reg := registry.New()
	if _, err := cluster.Apply(reg, c, "a", func(*cluster.State, cluster.Range) (state.KvState, error) {
		return clicks, nil
	}); err != nil {
		fmt.Println(err)
		return
	}
	loc, _ := reg.Location(c.States[0].Job, []byte("clicks"))
	for _, user := range []string{"alice", "carol"} {
		kg := loc.KeyGroup(state.String.HashCode(user))
		owner, _ := loc.Owner(kg)
		if owner.Local() {
			fmt.Printf("%s: key group %d, here\n", user, kg)
		} else {
			fmt.Printf("%s: key group %d, forwarded to %s\n", user, kg, owner.Addr)
		}
	}
	// The directory a Forwarder asks after a stale location agrees.
	dir, _ := cluster.NewStatic(c)
	o, _ := dir.Owner(context.Background(), c.States[0].Job, "clicks", state.String.HashCode("bob"))
	fmt.Println("bob's owner:", o.Addr)
	// Output:
	// alice: key group 116, forwarded to 127.0.0.1:9167
	// carol: key group 15, here
	// bob's owner: 127.0.0.1:9167
}
