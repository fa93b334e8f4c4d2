package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/qstate/qstate/client"
	"github.com/qstate/qstate/codec"
)

// queryCmd is the 'query' subcommand: one look-up through a proxy port,
// printed decoded (or in hex with --raw).
type queryCmd struct {
	Addr       string        `required:"" env:"QSTATE_ADDR" placeholder:"HOST:PORT" help:"Proxy address (Flink's default port is 9069)."`
	Job        string        `required:"" placeholder:"JOBID" help:"JobID, 32 hex digits as Flink prints it."`
	State      string        `required:"" placeholder:"NAME" help:"Queryable state name."`
	Key        string        `required:"" help:"The key, as text."`
	KeyType    string        `default:"string" enum:"int,long,string,boolean,double" help:"Key type: ${enum}."`
	Kind       string        `default:"value" enum:"value,list,map" help:"State kind: ${enum} (reducing and aggregating states are values)."`
	ValueType  string        `default:"long" enum:"int,long,string,boolean,double,bytes" help:"Value (list element, map value) type: ${enum}."`
	MapKeyType string        `default:"string" enum:"int,long,string,boolean,double,bytes" help:"Map key type for --kind=map: ${enum}."`
	Raw        bool          `help:"Print the state content in hex instead of decoding it."`
	Timeout    time.Duration `default:"5s" help:"Give up after this long."`
}

// Run runs the subcommand.
func (c *queryCmd) Run() error { return c.run(context.Background(), os.Stdout) }

// run queries and prints to w. A failure the server sends comes back as an
// error reading "<Java class>: <message>".
func (c *queryCmd) run(ctx context.Context, w io.Writer) error {
	job, err := client.ParseJobID(c.Job)
	if err != nil {
		return err
	}
	kt, err := client.ParseType(c.KeyType)
	if err != nil {
		return err
	}
	kind, err := client.ParseKind(c.Kind)
	if err != nil {
		return err
	}
	vt, err := client.ParseType(c.ValueType)
	if err != nil {
		return err
	}
	mkt, err := client.ParseType(c.MapKeyType)
	if err != nil {
		return err
	}
	kv, hash, err := client.KeyText(kt, c.Key)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	cl, err := client.New(client.Config{DialTimeout: c.Timeout})
	if err != nil {
		return err
	}
	defer cl.Close()
	content, err := cl.GetKvState(ctx, c.Addr, job, c.State, hash, kv)
	if err != nil {
		var jex *codec.JavaException
		if errors.As(err, &jex) {
			return errors.New(jex.Class + ": " + jex.Message)
		}
		return err
	}
	if c.Raw {
		_, err = fmt.Fprintln(w, hex.EncodeToString(content))
		return err
	}
	lines, err := client.FormatContent(content, kind, vt, mkt)
	if err != nil {
		return err
	}
	for _, l := range lines {
		if _, err := fmt.Fprintln(w, l); err != nil {
			return err
		}
	}
	return nil
}
