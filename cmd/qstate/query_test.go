package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/internal/qstatetest"
	"github.com/qstate/qstate/state"
)

// queryServer answers each request with reply(request) until the test ends.
func queryServer(t *testing.T, reply func(rid int64, r codec.KvStateRequest) []byte) string {
	t.Helper()
	return qstatetest.NewReplyServer(t, func(f codec.Frame) []byte {
		r, err := codec.DecodeKvStateRequest(f.Body)
		if err != nil {
			t.Errorf("query server: %v", err)
			return nil
		}
		return reply(f.RequestID, r)
	}).Addr()
}

// runQuery parses args as the command line does and runs the query.
func runQuery(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var c cli
	p, err := kong.New(&c, kong.Name("qstate"), kong.Exit(func(int) { t.Fatal("kong exited") }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Parse(append([]string{"query"}, args...)); err != nil {
		return "", err
	}
	var out bytes.Buffer
	err = c.Query.run(context.Background(), &out)
	return out.String(), err
}

const testJobID = "5906ea8d8940842f9e05aedddc8517ea"

func TestQueryCommand(t *testing.T) {
	var mapContent []byte
	for _, k := range []string{"b", "a"} {
		mapContent = state.String.Append(mapContent, k)
		mapContent = append(mapContent, 0)
		mapContent = state.Long.Append(mapContent, int64(k[0]))
	}
	mapContent = state.String.Append(mapContent, "c")
	mapContent = append(mapContent, 1) // null value
	addr := queryServer(t, func(rid int64, r codec.KvStateRequest) []byte {
		switch string(r.StateName) {
		case "counts":
			// Only the Java hash and bytes of the string key "hello" are answered.
			if r.KeyHash != 99162322 || !bytes.Equal(r.KeyAndNamespace, []byte{6, 'h', 'e', 'l', 'l', 'o', 0x2a, 0}) {
				return codec.AppendRequestFailureFrame(nil, rid, codec.MustAppendThrowable(nil, codec.NewUnknownKeyOrNamespace(codec.ServerName)))
			}
			return codec.AppendResultFrame(nil, rid, state.Long.Append(nil, 42))
		case "list":
			return codec.AppendResultFrame(nil, rid, state.AppendList(nil, state.Int, []int32{3, 1, 2}))
		case "map":
			return codec.AppendResultFrame(nil, rid, mapContent)
		}
		return codec.AppendRequestFailureFrame(nil, rid, codec.MustAppendThrowable(nil, codec.NewRuntimeException("Failed request 0.\n Caused by: no such state", nil)))
	})
	base := []string{"--addr", addr, "--job", testJobID}
	cases := []struct {
		name    string
		args    []string
		out     string
		errText string
	}{
		{"value", []string{"--state", "counts", "--key", "hello"}, "42\n", ""},
		{"raw", []string{"--state", "counts", "--key", "hello", "--raw"}, "000000000000002a\n", ""},
		{"list", []string{"--state", "list", "--key", "1", "--key-type", "int", "--kind", "list", "--value-type", "int"}, "3\n1\n2\n", ""},
		{"map sorted", []string{"--state", "map", "--key", "x", "--kind", "map", "--map-key-type", "string", "--value-type", "long"}, "a=97\nb=98\nc=null\n", ""},
		{"missing key", []string{"--state", "counts", "--key", "nope"}, "", "org.apache.flink.queryablestate.exceptions.UnknownKeyOrNamespaceException: Queryable State Server : No state for the specified key/namespace."},
		{"server failure text", []string{"--state", "other", "--key", "k"}, "", "java.lang.RuntimeException: Failed request 0.\n Caused by: no such state"},
		{"value type mismatch", []string{"--state", "counts", "--key", "hello", "--value-type", "int"}, "", "unconsumed bytes"},
		{"bad job", []string{"--state", "counts", "--key", "hello", "--job", "xyz"}, "", "JobID"},
		{"bad key", []string{"--state", "counts", "--key", "hello", "--key-type", "int"}, "", "int key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runQuery(t, append(append([]string{}, base...), tc.args...)...)
			if tc.errText == "" {
				if err != nil || out != tc.out {
					t.Errorf("got %q, %v; want %q", out, err, tc.out)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errText) {
				t.Errorf("err = %v, want it to contain %q (output %q)", err, tc.errText, out)
			}
		})
	}
	// Bad enum values are rejected by the parser.
	if _, err := runQuery(t, append(base, "--state", "s", "--key", "k", "--kind", "reducing")...); err == nil {
		t.Error("--kind reducing accepted")
	}
}
