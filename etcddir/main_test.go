package etcddir

import (
	"testing"

	"github.com/qstate/qstate/internal/qstatetest"
)

// TestMain fails the package when a test leaves a goroutine behind
// (nodes, etcd clients, servers and forwarders all stop at cleanup).
func TestMain(m *testing.M) { qstatetest.VerifyNoLeaks(m) }
