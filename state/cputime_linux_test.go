package state

import (
	"syscall"
	"time"
)

// threadCPU returns the CPU time the calling thread has used (the caller
// locks its goroutine to the thread). On a machine shared with other work
// it varies less than the wall time.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
