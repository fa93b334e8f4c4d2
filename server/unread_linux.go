package server

import "golang.org/x/sys/unix"

// unreadInKernel reports whether the socket fd has bytes the kernel
// received and gnet has not read yet (SIOCINQ). The idle sweep asks before
// it closes a connection: a loop that fell behind may not have read a
// request that arrived in time.
func unreadInKernel(fd int) bool {
	n, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
	return err == nil && n > 0
}
