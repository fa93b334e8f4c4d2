// Command qstate is the queryable-state server, its load harness and a query
// tool in one binary:
//
//	qstate serve   run the state server (embedded demo task by default)
//	qstate query   query one key of a running server and print the answer
//	qstate bench   drive any server that speaks the protocol and report latency
//
// Each subcommand lives in its own file; this file only wires them with kong.
// The binary holds no logic a library user would need.
package main

import (
	"os"

	"github.com/alecthomas/kong"
)

// cli is the command line. Flags may also come from QSTATE_* environment
// variables where a flag declares one.
type cli struct {
	Serve serveCmd `cmd:"" help:"Run the state server."`
	Query queryCmd `cmd:"" help:"Query one key and print the answer."`
	Bench benchCmd `cmd:"" help:"Drive a server with load and report throughput and latency."`
}

func main() {
	var c cli
	ctx := kong.Parse(&c,
		kong.Name("qstate"),
		kong.Description("A Go server for Apache Flink queryable state."),
		kong.UsageOnError(),
	)
	if err := ctx.Run(); err != nil {
		ctx.Errorf("%v", err)
		os.Exit(1)
	}
}
