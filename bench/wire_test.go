package bench

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/internal/vectors"
)

func intVoid(v vectors.Vector) bool {
	return v.Str("key_type") == "int" && v.Str("namespace_type") == "void"
}

// TestKeyAndNamespaceGolden: the synthetic key bytes are Flink's
// IntSerializer + VoidNamespace bytes.
func TestKeyAndNamespaceGolden(t *testing.T) {
	n := 0
	for _, v := range vectors.MustKind(t, "key_and_namespace") {
		if !intVoid(v) {
			continue
		}
		n++
		if got := appendKeyAndNamespace(nil, int32(v.Int("key"))); !bytes.Equal(got, v.Hex("hex")) {
			t.Errorf("%s: got %x, want %s", v.Name, got, v.Str("hex"))
		}
	}
	if n == 0 {
		t.Fatal("no int/void key_and_namespace vectors")
	}
}

// TestRequestFramesGolden: requests, with the key and id patched in,
// are byte for byte the frames Flink's MessageSerializer writes.
func TestRequestFramesGolden(t *testing.T) {
	n := 0
	for _, v := range vectors.MustKind(t, "request_frame") {
		// Keys are 0..N-1, and an empty state name means the default one.
		if !intVoid(v) || v.Int("key") < 0 || v.Str("state_name") == "" {
			continue
		}
		n++
		key := int(v.Int("key"))
		cfg := Config{JobID: v.Str("job_id_hex"), StateName: v.Str("state_name"), Keys: key + 1}.withDefaults()
		w, err := newFlinkWire(cfg)
		if err != nil {
			t.Fatal(err)
		}
		got := w.appendRequest([]byte("prefix"), key, uint64(v.Int("request_id")))
		if !bytes.Equal(got[6:], v.Hex("frame_hex")) || string(got[:6]) != "prefix" {
			t.Errorf("%s:\n got %x\nwant %s", v.Name, got[6:], v.Str("frame_hex"))
		}
	}
	for _, v := range vectors.MustKind(t, "internal_request_frame") {
		if !intVoid(v) || v.Int("key") < 0 {
			continue
		}
		n++
		key := int(v.Int("key"))
		cfg := Config{Internal: true, KvStateID: v.Str("kv_state_id_hex"), Keys: key + 1}.withDefaults()
		w, err := newFlinkWire(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := w.appendRequest(nil, key, uint64(v.Int("request_id"))); !bytes.Equal(got, v.Hex("frame_hex")) {
			t.Errorf("%s:\n got %x\nwant %s", v.Name, got, v.Str("frame_hex"))
		}
	}
	if n < 10 {
		t.Fatalf("only %d vectors checked", n)
	}
}

// TestExchangeGolden: against the live exchanges recorded from Flink with
// the synthetic dataset (NKEYS=1000 VALUE_SIZE=8), our request is the bytes
// Flink was sent, and its response parses, matches the id, verifies (for
// present keys) or names the exception class (for missing ones).
func TestExchangeGolden(t *testing.T) {
	w, err := newFlinkWire(Config{Keys: 1000, ValueSize: 8}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, v := range vectors.MustKind(t, "exchange") {
		if v.Str("mode") != "proxy" || !strings.Contains(v.Name, "-key-") || strings.Contains(v.Name, "wrong-hash") || strings.Contains(v.Name, "long-key") {
			continue
		}
		req := v.Hex("request_frame_hex")
		id := uint64(v.Int("request_id"))
		key := int(int32(codecKey(t, req)))
		if key >= 0 && key < 1000 {
			if got := w.appendRequest(nil, key, id); !bytes.Equal(got, req) {
				t.Errorf("%s: request\n got %x\nwant %x", v.Name, got, req)
			}
		}
		r, n, _, err := w.parse(v.Hex("response_frame_hex"))
		if err != nil || n != len(v.Hex("response_frame_hex")) || r.id != id {
			t.Fatalf("%s: parse n=%d id=%d err=%v", v.Name, n, r.id, err)
		}
		switch v.Str("response_type") {
		case "REQUEST_RESULT":
			if r.out != outOK || !bytes.Equal(r.content, v.Hex("content_hex")) || !w.verify(key, r.content) {
				t.Errorf("%s: content %x does not verify as key %d", v.Name, r.content, key)
			}
			if w.verify(key+1, r.content) {
				t.Errorf("%s: content verifies as key %d too", v.Name, key+1)
			}
			var want []byte
			want = append(want, 0, 0, 0, 8)
			if !bytes.Equal(dataset.SyntheticValue(want, key, 8), r.content) {
				t.Errorf("%s: dataset.SyntheticValue disagrees with Flink's content", v.Name)
			}
		case "REQUEST_FAILURE":
			if r.out != outRequestFailure || string(r.class) != v.Str("exception_class") {
				t.Errorf("%s: class %q, want %q", v.Name, r.class, v.Str("exception_class"))
			}
		}
		checked++
	}
	if checked < 4 {
		t.Fatalf("only %d exchanges checked", checked)
	}
}

// codecKey returns the key of a KvStateRequest frame (the int in its key bytes).
func codecKey(t *testing.T, frame []byte) uint32 {
	t.Helper()
	f, _, err := codec.DecodeFrame(frame, 0)
	if err != nil {
		t.Fatal(err)
	}
	r, err := codec.DecodeKvStateRequest(f.Body)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(r.KeyAndNamespace[0])<<24 | uint32(r.KeyAndNamespace[1])<<16 | uint32(r.KeyAndNamespace[2])<<8 | uint32(r.KeyAndNamespace[3])
}

// TestJavaClassNameGolden: the class read off every golden failure payload
// is the class Flink serialized.
func TestJavaClassNameGolden(t *testing.T) {
	for _, k := range []string{"request_failure_frame", "server_failure_frame"} {
		for _, v := range vectors.MustKind(t, k) {
			f, _, err := codec.DecodeFrame(v.Hex("frame_hex"), 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(javaClassName(f.Body)); got != v.Str("exception_class") {
				t.Errorf("%s %s: %q, want %q", k, v.Name, got, v.Str("exception_class"))
			}
		}
	}
	for _, bad := range []string{"", "aced0005", "aced000573720000", "aced0005737200ff41", "00000000737200014141"} {
		b, _ := hex.DecodeString(bad)
		if got := string(javaClassName(b)); got != "?" {
			t.Errorf("javaClassName(%s) = %q, want ?", bad, got)
		}
	}
}

// TestFlinkParseSplit: a response cut anywhere is incomplete, never an
// error, and says how much it needs once the length is in.
func TestFlinkParseSplit(t *testing.T) {
	w, _ := newFlinkWire(Config{Keys: 1, ValueSize: 8}.withDefaults())
	for _, v := range vectors.MustKind(t, "response_frame") {
		frame := v.Hex("frame_hex")
		for cut := 0; cut < len(frame); cut++ {
			_, n, need, err := w.parse(frame[:cut])
			if err != nil || n != 0 {
				t.Fatalf("%s cut %d: n=%d err=%v", v.Name, cut, n, err)
			}
			if cut >= 4 && need != len(frame) {
				t.Fatalf("%s cut %d: need %d, want %d", v.Name, cut, need, len(frame))
			}
		}
		r, n, _, err := w.parse(frame)
		if err != nil || n != len(frame) || !bytes.Equal(r.content, v.Hex("content_hex")) {
			t.Fatalf("%s: n=%d err=%v", v.Name, n, err)
		}
	}
}

// TestFlinkParseHostile: broken frames are protocol errors, never panics.
func TestFlinkParseHostile(t *testing.T) {
	w, _ := newFlinkWire(Config{Keys: 1, MaxFrameLen: 1 << 20}.withDefaults())
	for name, h := range map[string]string{
		"negative length":  "ffffffff",
		"too large":        "7fffffff79a1b710",
		"bad version":      "0000001000000001000000010000000000000000",
		"bad type":         "0000001079a1b710000000090000000000000000",
		"request type":     "0000001079a1b710000000000000000000000000",
		"short result":     "0000001079a1b710000000010000000000000000",
		"negative content": "0000001479a1b71000000001000000000000000" + "0ffffffff",
		"content overrun":  "0000001479a1b71000000001000000000000000" + "000000009",
	} {
		b, _ := hex.DecodeString(h)
		if _, _, _, err := w.parse(b); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: err %v, want ErrProtocol", name, err)
		}
	}
}

func TestRESPParse(t *testing.T) {
	w := newRESPWire(Config{Keys: 3, ValueSize: 5, MaxFrameLen: 1 << 20})
	good := []struct {
		in      string
		out     outcome
		content string
		class   string
	}{
		{"$5\r\nhello\r\n", outOK, "hello", ""},
		{"$0\r\n\r\n", outOK, "", ""},
		{"$-1\r\n", outRequestFailure, "", "(nil)"},
		{"-ERR wrong number of arguments\r\n", outRequestFailure, "", "ERR"},
		{"-WRONGTYPE Operation against a key\r\n", outRequestFailure, "", "WRONGTYPE"},
		{"-\r\n", outRequestFailure, "", "?"},
	}
	for _, g := range good {
		in := []byte(g.in + "$1\r\nx\r\n") // followed by the next reply
		for cut := 0; cut < len(g.in); cut++ {
			if _, n, _, err := w.parse(in[:cut]); n != 0 || err != nil {
				t.Fatalf("%q cut %d: n=%d err=%v", g.in, cut, n, err)
			}
		}
		r, n, _, err := w.parse(in)
		if err != nil || n != len(g.in) || r.out != g.out || string(r.content) != g.content || string(r.class) != g.class {
			t.Errorf("%q: %+v n=%d err=%v", g.in, r, n, err)
		}
	}
	for _, bad := range []string{"+OK\r\n", ":1\r\n", "*1\r\n", "$x\r\n", "$-2\r\n", "$5\nhello\r\n", "$5\r\nhelloXY",
		"$99999999999999999999\r\n", "$2000000\r\n", "$" + strings.Repeat("1", 5000)} {
		if _, _, _, err := w.parse([]byte(bad)); !errors.Is(err, ErrProtocol) {
			t.Errorf("%q: err %v, want ErrProtocol", bad, err)
		}
	}
	if !w.verify(2, dataset.SyntheticValue(nil, 2, 5)) || w.verify(1, dataset.SyntheticValue(nil, 2, 5)) || w.verify(2, dataset.SyntheticValue(nil, 2, 4)) {
		t.Error("verify")
	}
	if got := string(w.appendRequest(nil, 2, 0)); got != "*2\r\n$3\r\nGET\r\n$5\r\nkey:2\r\n" {
		t.Errorf("request %q", got)
	}
}

// TestZipf: key frequencies follow 1/(k+1)^s; uniform covers every key evenly.
func TestZipf(t *testing.T) {
	const n, draws = 1000, 400_000
	for _, s := range []float64{0.99, 1.5} {
		g := newKeyGen(newKeyDist(n, Zipf, s), 7, 1)
		counts := make([]int, n)
		for i := 0; i < draws; i++ {
			counts[g.next()]++
		}
		h := 0.0
		for k := 1; k <= n; k++ {
			h += math.Pow(float64(k), -s)
		}
		for _, k := range []int{0, 1, 9} {
			want := draws * math.Pow(float64(k+1), -s) / h
			if got := float64(counts[k]); math.Abs(got-want) > 5*math.Sqrt(want) {
				t.Errorf("s=%v key %d drawn %v times, want %.0f", s, k, got, want)
			}
		}
	}
	g := newKeyGen(newKeyDist(n, Uniform, 0), 7, 1)
	counts := make([]int, n)
	for i := 0; i < draws; i++ {
		counts[g.next()]++
	}
	for k, c := range counts {
		if want := float64(draws / n); math.Abs(float64(c)-want) > 6*math.Sqrt(want) {
			t.Errorf("uniform key %d drawn %d times, want about %.0f", k, c, want)
		}
	}
	// Same seed and stream, same keys.
	a, b := newKeyGen(newKeyDist(n, Zipf, 1), 3, 9), newKeyGen(newKeyDist(n, Zipf, 1), 3, 9)
	for i := 0; i < 100; i++ {
		if a.next() != b.next() {
			t.Fatal("key generator is not deterministic")
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v", err)
	}
	for name, c := range map[string]Config{
		"job id":            {JobID: "xyz"},
		"internal no id":    {Internal: true},
		"internal bad id":   {Internal: true, KvStateID: "00"},
		"internal resp":     {Internal: true, KvStateID: dataset.SyntheticJobID, Protocol: RESP},
		"preload flink":     {Preload: true},
		"conns":             {Conns: -1},
		"too many conns":    {Conns: MaxConns + 1},
		"pipeline":          {Pipeline: MaxPipeline + 1},
		"keys":              {Keys: MaxKeys + 1},
		"zipf s":            {Dist: Zipf, ZipfS: -1},
		"value size":        {ValueSize: -1},
		"warmup":            {Warmup: -1},
		"duration":          {Duration: -1},
		"requests":          {Requests: -1},
		"pid":               {ServerPID: -1},
		"timeout":           {Timeout: -1},
		"protocol":          {Protocol: 9},
		"dist":              {Dist: 9},
		"state name":        {StateName: strings.Repeat("s", MaxStateNameLen+1)},
		"verify over frame": {Verify: true, ValueSize: 1 << 20, MaxFrameLen: 1 << 10},
	} {
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err %v, want ErrConfig", name, err)
		}
	}
	err := Config{Conns: -1, Pipeline: -1, Keys: -1}.Validate()
	if err == nil || strings.Count(err.Error(), "\n") != 2 {
		t.Errorf("three problems reported as %v", err)
	}
	var p Protocol
	var d Dist
	if p.UnmarshalText([]byte("redis")) != nil || p != RESP || d.UnmarshalText([]byte("zipf")) != nil || d != Zipf {
		t.Error("UnmarshalText")
	}
	if p.UnmarshalText([]byte("http")) == nil || d.UnmarshalText([]byte("normal")) == nil {
		t.Error("UnmarshalText accepted nonsense")
	}
}

// TestRequestTemplates: the patched templates are, for every key of a
// dataset and any id, the frames codec writes (both Flink requests) and
// the command appendRESPCommand writes (RESP), appended after dst.
func TestRequestTemplates(t *testing.T) {
	const keys = 100_000
	job, _ := parseID(Config{}.withDefaults().JobID)
	kvID := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	proxy, err := newFlinkWire(Config{Keys: keys}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	internal, err := newFlinkWire(Config{Keys: keys, Internal: true, KvStateID: hex.EncodeToString(kvID[:])}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	resp := newRESPWire(Config{Keys: keys}.withDefaults())
	name := []byte(Config{}.withDefaults().StateName)
	for key := 0; key < keys; key += 1 + key/7 {
		id := uint64(key)*0x9e3779b97f4a7c15 + 1
		kn := appendKeyAndNamespace(nil, int32(key))
		want := codec.AppendKvStateRequestFrame([]byte("dst"), int64(id), codec.KvStateRequest{
			JobID: job, StateName: name, KeyHash: int32(key), KeyAndNamespace: kn})
		if got := proxy.appendRequest([]byte("dst"), key, id); !bytes.Equal(got, want) {
			t.Fatalf("proxy key %d:\n got %x\nwant %x", key, got, want)
		}
		want = codec.AppendKvStateInternalRequestFrame([]byte("dst"), int64(id), codec.KvStateInternalRequest{
			KvStateID: kvID, KeyAndNamespace: kn})
		if got := internal.appendRequest([]byte("dst"), key, id); !bytes.Equal(got, want) {
			t.Fatalf("internal key %d:\n got %x\nwant %x", key, got, want)
		}
		want = appendRESPCommand([]byte("dst"), []byte("GET"), respKey(nil, key))
		if got := resp.appendRequest([]byte("dst"), key, id); !bytes.Equal(got, want) {
			t.Fatalf("resp key %d: got %q want %q", key, got, want)
		}
	}
}
