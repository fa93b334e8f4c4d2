//go:build !linux

package server

// writable is writable_linux.go's where there is no epoll: connections
// that wait for their socket to take more are woken by the drain
// watcher's polls alone.
type writable struct{}

func (w *writable) off()           {}
func (w *writable) init()          {}
func (w *writable) arm(*conn) bool { return false }
func (w *writable) forget(*conn)   {}
func (w *writable) run()           {}
func (w *writable) stop()          {}
