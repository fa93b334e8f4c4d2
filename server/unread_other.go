//go:build !linux

package server

// unreadInKernel is unread_linux.go's, where the kernel cannot be asked:
// the idle sweep then goes by what gnet has read.
func unreadInKernel(int) bool { return false }
