package cluster

import (
	"testing"

	"github.com/qstate/qstate/internal/qstatetest"
)

// TestMain fails the package when a test leaves a goroutine behind
// (forwarders, clients, nodes and fake servers all stop at cleanup).
func TestMain(m *testing.M) { qstatetest.VerifyNoLeaks(m) }
