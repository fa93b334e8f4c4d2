// Command qstate is the queryable-state server, its load harness, a query
// tool and a cluster status tool in one binary:
//
//	qstate serve   run the state server (embedded demo task by default)
//	qstate query   query one key of a running server and print the answer
//	qstate bench   drive any server that speaks the protocol and report latency
//	qstate cluster status   print a cluster kept in etcd (members, key groups, gaps)
//
// Each subcommand lives in its own file; this file only wires them with kong.
// The binary holds no logic a library user would need.
package main

import (
	"os"

	"github.com/alecthomas/kong"
)

// cli is the command line. Flags may also come from QSTATE_* environment
// variables where a flag declares one (every serve flag does), and serve's
// from a --config file: a flag overrides its variable, which overrides the
// file.
type cli struct {
	Serve   serveCmd   `cmd:"" help:"Run the state server."`
	Query   queryCmd   `cmd:"" help:"Query one key and print the answer."`
	Bench   benchCmd   `cmd:"" help:"Drive a server with load and report throughput and latency."`
	Cluster clusterCmd `cmd:"" help:"Look at a cluster kept in etcd."`
}

func main() {
	var c cli
	parser := kong.Must(&c, parserOptions()...)
	ctx, err := parser.Parse(os.Args[1:])
	parser.FatalIfErrorf(err)
	if err := ctx.Run(); err != nil {
		ctx.Errorf("%v", err)
		os.Exit(1)
	}
}

// parserOptions are the kong options of the command line (main and tests):
// `serve --config FILE` reads a JSON file of settings (loadConfig), and
// later sources never override earlier ones (flag > environment > file).
func parserOptions() []kong.Option {
	return []kong.Option{
		kong.Name("qstate"),
		kong.Description("A Go server for Apache Flink queryable state."),
		kong.UsageOnError(),
		kong.Configuration(loadConfig),
	}
}
