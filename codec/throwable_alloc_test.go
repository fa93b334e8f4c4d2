//go:build !race

package codec

import "testing"

// TestThrowableAllocs: the server's failure paths allocate nothing once the
// destination has room: AppendThrowable (one exact-size growth otherwise),
// ThrowableLen, and the cached missing-key payload.
func TestThrowableAllocs(t *testing.T) {
	var id [16]byte
	e := NewFailedRequest(3, NewUnknownKvStateID(ServerName, id))
	ukon := NewUnknownKeyOrNamespace(ServerName)
	buf := make([]byte, 0, 4096)
	cases := map[string]func(){
		"AppendThrowable":             func() { buf, _ = AppendThrowable(buf[:0], ukon) },
		"AppendThrowable chain":       func() { buf, _ = AppendThrowable(buf[:0], e) },
		"ThrowableLen":                func() { _, _ = ThrowableLen(e) },
		"AppendUnknownKeyOrNamespace": func() { buf = AppendUnknownKeyOrNamespace(buf[:0], ProxyName) },
		"UnknownKeyOrNamespacePayload": func() {
			if len(UnknownKeyOrNamespacePayload(ServerName)) == 0 {
				t.Fatal("empty payload")
			}
		},
	}
	for name, f := range cases {
		f() // the cached payloads are computed on first use
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations", name, n)
		}
	}
	// Without room, AppendThrowable grows dst once, to the exact size.
	if n := testing.AllocsPerRun(100, func() { buf, _ = AppendThrowable(nil, ukon) }); n != 1 {
		t.Errorf("AppendThrowable(nil): %v allocations, want 1", n)
	}
	if cap(buf) != len(buf) {
		t.Errorf("grown to cap %d for %d bytes", cap(buf), len(buf))
	}
}
