package codec

import (
	"strings"
	"testing"
)

func BenchmarkAppendThrowable(b *testing.B) {
	var id [16]byte
	cases := []struct {
		name string
		e    *JavaException
	}{
		{"UnknownKeyOrNamespace", NewUnknownKeyOrNamespace(ServerName)},
		{"FailedRequestWithCause", NewFailedRequest(7, NewUnknownKvStateID(ServerName, id))},
		{"LongMessage", NewRuntimeException(strings.Repeat("é", 40000), nil)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			buf := make([]byte, 0, 128<<10)
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = AppendThrowable(buf[:0], c.e)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

// BenchmarkAppendUnknownKeyOrNamespaceCached is the missing-key path of a
// server: the payload bytes computed once, copied into the frame.
func BenchmarkAppendUnknownKeyOrNamespaceCached(b *testing.B) {
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendUnknownKeyOrNamespace(buf[:0], ServerName)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkReadThrowable(b *testing.B) {
	want := map[string]string{
		"request_failure_frame/rid=1/UnknownKeyOrNamespaceException/empty": "GoldenEmptyStack",
		"exchange/proxy/missing-key-1005":                                  "FlinkJVMStack",
		"exchange/proxy/long-key-for-int-state":                            "FlinkLongMessage",
	}
	for _, g := range goldenFailures(b) {
		name, ok := want[g.name]
		if !ok {
			continue
		}
		delete(want, g.name)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(g.payload)))
			for b.Loop() {
				if _, err := readThrowable(g.payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	if len(want) != 0 {
		b.Fatalf("vectors not found: %v", want)
	}
}
