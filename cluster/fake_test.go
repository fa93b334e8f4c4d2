package cluster

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/internal/qstatetest"
)

// fakeStateServer is a state server on a loopback port that answers each
// KvStateInternalRequest with what answer returns for it (n counts the
// requests received so far, from 1). It is stopped at cleanup.
type fakeStateServer struct {
	*qstatetest.Server
	requests atomic.Int64
}

func newFakeStateServer(t testing.TB, answer func(n int64, req codec.KvStateInternalRequest) ([]byte, *codec.JavaException, bool)) *fakeStateServer {
	t.Helper()
	s := &fakeStateServer{}
	s.Server = qstatetest.NewReplyServer(t, func(f codec.Frame) []byte {
		req, err := codec.DecodeKvStateInternalRequest(f.Body)
		if err != nil {
			t.Errorf("fake state server: the forwarder sent a bad request: %v", err)
			return nil
		}
		content, exc, reply := answer(s.requests.Add(1), req)
		switch {
		case !reply:
			return nil
		case exc != nil:
			return codec.AppendRequestFailureFrame(nil, f.RequestID, codec.MustAppendThrowable(nil, exc))
		}
		return codec.AppendResultFrame(nil, f.RequestID, content)
	})
	return s
}

// addr is the server's address.
func (s *fakeStateServer) addr() string { return s.Addr() }

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t testing.TB) string { return qstatetest.DeadAddr(t) }

// errNoAnswer marks a fake directory with nothing to say.
var errNoAnswer = errors.New("fake directory: no answer")
