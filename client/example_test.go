package client_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/qstate/qstate/client"
	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/state"
)

// Query a ValueState<Long> keyed by String through a Flink proxy (or a
// qstate server), telling a missing key from other failures.
func ExampleGetValue() {
	c, err := client.New(client.Config{})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	job, err := client.ParseJobID("5906ea8d8940842f9e05aedddc8517ea")
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, err := client.GetValue(ctx, c, "localhost:9069", job, "query-name", state.String, "hello", state.Long)
	var jex *codec.JavaException
	switch {
	case errors.Is(err, codec.ErrUnknownKeyOrNamespace):
		fmt.Println("no such key")
	case errors.As(err, &jex):
		fmt.Println("server says", jex.Class, jex.Message)
	case err != nil:
		fmt.Println(err) // connection trouble or deadline
	default:
		fmt.Println(n)
	}
}
