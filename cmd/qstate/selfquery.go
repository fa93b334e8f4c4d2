package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/qstate/qstate/client"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/state"
)

// selfQueryTimeout bounds the start-up query: it runs against our own
// loopback port, so anything slower is a fault worth reporting.
const selfQueryTimeout = 2 * time.Second

// selfQuery asks the proxy port at proxy, over TCP with the Go client as
// any outside reader would, for one key of what dataset serves, and prints
// the answer to w: the newcomer sees a query answered without a second
// command. It returns the error the query met.
func selfQuery(ctx context.Context, w io.Writer, proxy net.Addr, ds string, valueSize int) error {
	ctx, cancel := context.WithTimeout(ctx, selfQueryTimeout)
	defer cancel()
	c, err := client.New(client.Config{})
	if err != nil {
		return err
	}
	defer c.Close()
	addr := proxy.String()
	switch ds {
	case "demo":
		job, err := registry.ParseJobID(dataset.DemoJobID)
		if err != nil {
			return err
		}
		key := dataset.DemoWords[0]
		n, err := client.GetValue(ctx, c, addr, job, dataset.DemoWordCounts, state.String, key, state.Long)
		if err != nil {
			return fmt.Errorf("self-query of %s[%q]: %w", dataset.DemoWordCounts, key, err)
		}
		fmt.Fprintf(w, "answered over TCP by %s: %s[%q] = %d\n", addr, dataset.DemoWordCounts, key, n)
	case "synthetic":
		job, err := registry.ParseJobID(dataset.SyntheticJobID)
		if err != nil {
			return err
		}
		v, err := client.GetValue(ctx, c, addr, job, dataset.SyntheticState, state.Int, 0, state.Bytes)
		if err != nil {
			return fmt.Errorf("self-query of %s[0]: %w", dataset.SyntheticState, err)
		}
		if len(v) != valueSize {
			return fmt.Errorf("self-query of %s[0]: %d bytes, want %d", dataset.SyntheticState, len(v), valueSize)
		}
		fmt.Fprintf(w, "answered over TCP by %s: %s[0] = %d bytes % x\n", addr, dataset.SyntheticState, len(v), v[:min(len(v), 8)])
	}
	return nil
}
