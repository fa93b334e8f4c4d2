package server

import (
	"sync"
	"time"
)

// watcher wakes connections that wait: for their socket to take their
// pending answers where its EPOLLOUT cannot be had (writable: Linux), for
// room, or to finish during shutdown. Such a connection registers here and is woken every interval
// until it no longer needs to be. The goroutine sleeps while nothing waits.
//
// A connection whose reader stopped reading would be woken every interval
// for nothing, and a few thousand such connections would keep the event
// loops busy: one that has not drained for a while is registered with
// addSlow instead and woken every drainSlowFactor intervals (drain.go).
type watcher struct {
	every time.Duration

	mu        sync.Mutex
	list      []*conn
	spare     []*conn
	slow      []*conn // woken every drainSlowFactor intervals
	slowSpare []*conn
	lastSlow  time.Time // run's goroutine only

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

// addSlow registers cs for one wake-up within drainSlowFactor intervals,
// once however often add or addSlow is called before.
func (w *watcher) addSlow(cs *conn) {
	if cs.watched.Swap(true) {
		return
	}
	w.mu.Lock()
	w.slow = append(w.slow, cs)
	first := len(w.slow) == 1 && len(w.list) == 0
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
	slowEvery := w.every * drainSlowFactor
	for {
		w.mu.Lock()
		fast, slow := len(w.list), len(w.slow)
		w.mu.Unlock()
		if fast+slow == 0 {
			select {
			case <-w.kick:
				continue
			case <-w.quit:
				return
			}
		}
		d := w.every
		if fast == 0 {
			d = max(w.every, slowEvery-time.Since(w.lastSlow))
		}
		t.Reset(d)
		select {
		case <-t.C:
		case <-w.kick: // a first fast registration during a slow wait
			t.Stop() // Go 1.23 timers: no stale tick to drain
		case <-w.quit:
			return
		}
		slowDue := time.Since(w.lastSlow) >= slowEvery
		var slowList []*conn
		w.mu.Lock()
		list := w.list
		w.list = w.spare[:0]
		if slowDue {
			slowList = w.slow
			w.slow = w.slowSpare[:0]
		}
		w.mu.Unlock()
		w.spare = wakeList(list)
		if slowDue {
			w.lastSlow = time.Now()
			w.slowSpare = wakeList(slowList)
		}
	}
}

// wakeList wakes the connections of list and returns it emptied, for reuse.
func wakeList(list []*conn) []*conn {
	for i, cs := range list {
		cs.watched.Store(false)
		cs.wake()
		list[i] = nil
	}
	return list[:0]
}

// stop ends run.
func (w *watcher) stop() { w.once.Do(func() { close(w.quit) }) }
