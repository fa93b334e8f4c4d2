package server

import (
	"sync"

	"golang.org/x/sys/unix"
)

// writable tells the event loop when a socket that refused part of a
// write can take more. The loop writes answers itself and keeps what the
// kernel did not take in the connection's queue (flush), so gnet, which
// watches EPOLLOUT only for its own buffer, would not say. writable has an
// epoll instance of its own: arm registers a connection's descriptor for
// one EPOLLOUT (EPOLLONESHOT), and one goroutine per server (run) waits
// on it and wakes the connection's loop (Conn.Wake), which writes again.
// The drain watcher's polls stay as a fallback (and the only means where
// there is no epoll: writable_other.go).
type writable struct {
	epfd int // -1 when epoll could not be had: arm does nothing
	quit int // eventfd that stops run

	mu    sync.Mutex
	conns map[int32]*conn // registered descriptors (also disarmed ones), until forget
}

// off is the state of a server that has not served yet (New): arm and
// forget do nothing.
func (w *writable) off() { w.epfd, w.quit = -1, -1 }

// init opens the epoll instance (Serve, before the engine starts); on
// failure writable stays off and the drain watcher alone wakes waiting
// connections.
func (w *writable) init() {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return
	}
	quit, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(epfd)
		return
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(quit)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, quit, &ev); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(quit)
		return
	}
	w.epfd, w.quit = epfd, quit
	w.conns = make(map[int32]*conn)
}

// arm asks for one wake-up of cs when its socket is writable (event
// loop, after a write the kernel did not take whole) and reports whether
// one will come. A socket that is writable already wakes it at once.
func (w *writable) arm(cs *conn) bool {
	fd := cs.nc.Fd()
	if w.epfd < 0 || fd < 0 {
		return false
	}
	ev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLONESHOT, Fd: int32(fd)}
	if cs.armed {
		if unix.EpollCtl(w.epfd, unix.EPOLL_CTL_MOD, fd, &ev) == nil {
			return true
		}
	}
	w.mu.Lock()
	w.conns[int32(fd)] = cs
	w.mu.Unlock()
	if unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, fd, &ev) == nil {
		cs.armed = true
	}
	return cs.armed
}

// forget removes cs's descriptor (event loop, in OnClose while the
// descriptor is still open, before gnet closes it or hands it to drain).
func (w *writable) forget(cs *conn) {
	if !cs.armed || w.epfd < 0 {
		return
	}
	cs.armed = false
	fd := cs.nc.Fd()
	_ = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	w.mu.Lock()
	if w.conns[int32(fd)] == cs {
		delete(w.conns, int32(fd))
	}
	w.mu.Unlock()
}

// run wakes the connections whose sockets became writable, until stop
// (its own goroutine). An event that raced with forget finds the
// descriptor gone, or a newer connection on it, which it wakes for
// nothing: a pass that finds nothing to write.
func (w *writable) run() {
	if w.epfd < 0 {
		return
	}
	defer func() {
		_ = unix.Close(w.epfd)
		_ = unix.Close(w.quit)
	}()
	var events [64]unix.EpollEvent
	for {
		n, err := unix.EpollWait(w.epfd, events[:], -1)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return
		}
		for _, ev := range events[:n] {
			if ev.Fd == int32(w.quit) {
				return
			}
			w.mu.Lock()
			cs := w.conns[ev.Fd]
			w.mu.Unlock()
			if cs != nil {
				cs.wake()
			}
		}
	}
}

// stop ends run (once the engine has stopped).
func (w *writable) stop() {
	if w.quit >= 0 {
		var one = [8]byte{1}
		_, _ = unix.Write(w.quit, one[:])
	}
}
