//go:build !linux

package state

import "time"

// threadCPU is not measured outside Linux.
func threadCPU() time.Duration { return 0 }
