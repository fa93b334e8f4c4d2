package kvref

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"go.uber.org/goleak"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/internal/qstatetest"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/state"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"))
}

// request is a KvStateRequest frame for Integer key k of the synthetic
// state (or of another state name).
func request(t *testing.T, id int64, name string, k int32) []byte {
	t.Helper()
	job, err := registry.ParseJobID(dataset.SyntheticJobID)
	if err != nil {
		t.Fatal(err)
	}
	kn := state.AppendKeyAndNamespace(nil, state.Int, k, state.Void, state.VoidNamespace{})
	return codec.AppendKvStateRequestFrame(nil, id, codec.KvStateRequest{JobID: job, StateName: []byte(name), KeyHash: k, KeyAndNamespace: kn})
}

// TestAnswersTheSyntheticDataset pipelines requests for present keys, a
// missing key and another state to each mode's server and checks every
// answer against the dataset, then breaks the stream and expects Flink's
// SERVER_FAILURE and a closed connection.
func TestAnswersTheSyntheticDataset(t *testing.T) {
	const keys, size = 1000, 8
	for _, flat := range []bool{false, true} {
		t.Run(fmt.Sprintf("flat=%v", flat), func(t *testing.T) {
			s, err := New(Config{Addr: "127.0.0.1:0", Keys: keys, ValueSize: size, Flat: flat, EventLoops: 1, PoolSize: 4})
			if err != nil {
				t.Fatal(err)
			}
			stop := qstatetest.Serve(t, "kvref", s, ErrServerClosed)
			defer stop()
			c := qstatetest.Dial(t, s.Addr().String())

			present := []int32{0, 1, 31, keys / 2, keys - 1}
			var out []byte
			for i, k := range present {
				out = append(out, request(t, int64(100+i), dataset.SyntheticState, k)...)
			}
			out = append(out, request(t, 200, dataset.SyntheticState, keys)...) // missing
			out = append(out, request(t, 201, dataset.SyntheticState, -1)...)   // missing
			out = append(out, request(t, 202, "other", 0)...)                   // another state
			if _, err := c.Write(out); err != nil {
				t.Fatal(err)
			}
			for i, k := range present {
				f, _ := qstatetest.MustReadFrame(t, c)
				want := binary.BigEndian.AppendUint32(nil, size)
				want = dataset.SyntheticValue(want, int(k), size)
				if f.Type != codec.RequestResult || f.RequestID != int64(100+i) || !bytes.Equal(f.Body[4:], want) {
					t.Fatalf("key %d: got %v id %d body %x, want a result for id %d with content %x", k, f.Type, f.RequestID, f.Body, 100+i, want)
				}
			}
			for _, id := range []int64{200, 201, 202} {
				f, _ := qstatetest.MustReadFrame(t, c)
				if f.Type != codec.RequestFailure || f.RequestID != id || !bytes.Equal(f.Body, codec.UnknownKeyOrNamespacePayload(codec.ServerName)) {
					t.Fatalf("got %v id %d, want the missing key's failure for id %d", f.Type, f.RequestID, id)
				}
			}

			bad := request(t, 300, dataset.SyntheticState, 0)
			binary.BigEndian.PutUint32(bad[codec.LengthLen:], 1) // version 1
			if _, err := c.Write(bad); err != nil {
				t.Fatal(err)
			}
			f, _ := qstatetest.MustReadFrame(t, c)
			if f.Type != codec.ServerFailure {
				t.Fatalf("broken stream: got %v, want SERVER_FAILURE", f.Type)
			}
			qstatetest.ExpectClosed(t, c)
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{Keys: 0}, {Keys: 10, ValueSize: -1}, {Keys: 10, PoolSize: -1}} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: Validate accepted it", c)
		}
	}
	if err := (Config{Keys: 10}).Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}
