package server

import (
	"sync"
	"time"
)

// watcher wakes connections that wait for gnet's outbound buffer to drain.
// gnet raises no event when it does (it writes on EPOLLOUT and tells no
// one), so a connection that is held back, has answers queued, or is
// finishing during shutdown registers here and is woken every interval
// until it no longer needs to be. The goroutine sleeps while nothing waits.
type watcher struct {
	every time.Duration

	mu    sync.Mutex
	list  []*conn
	spare []*conn

	kick chan struct{}
	quit chan struct{}
	once sync.Once
}

func (w *watcher) init(every time.Duration) {
	w.every = every
	w.kick = make(chan struct{}, 1)
	w.quit = make(chan struct{})
}

// add registers cs for one wake-up, once however often it is called before.
func (w *watcher) add(cs *conn) {
	if cs.watched.Swap(true) {
		return
	}
	w.mu.Lock()
	w.list = append(w.list, cs)
	first := len(w.list) == 1
	w.mu.Unlock()
	if first {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

// run is the watcher's goroutine; it returns after stop.
func (w *watcher) run() {
	t := time.NewTimer(w.every)
	defer t.Stop()
	for {
		w.mu.Lock()
		n := len(w.list)
		w.mu.Unlock()
		if n == 0 {
			select {
			case <-w.kick:
				continue
			case <-w.quit:
				return
			}
		}
		t.Reset(w.every)
		select {
		case <-t.C:
		case <-w.quit:
			return
		}
		w.mu.Lock()
		list := w.list
		w.list = w.spare[:0]
		w.mu.Unlock()
		for i, cs := range list {
			cs.watched.Store(false)
			cs.wake()
			list[i] = nil
		}
		w.spare = list[:0]
	}
}

// stop ends run.
func (w *watcher) stop() { w.once.Do(func() { close(w.quit) }) }
