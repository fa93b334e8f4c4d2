package qstatetest

import "sync"

// BlockingState is a state.KvState of a slow backend, for tests that hold
// a look-up in flight: each Get reports on Entered that it began, then
// waits until Release and answers value (found). Create it with
// NewBlockingState. Get may run on any goroutine; Release too.
type BlockingState struct {
	// Entered receives a value as each Get begins. A Get waits for room in
	// it: its capacity (NewBlockingState's entered) is how many Gets may
	// begin before the test receives.
	Entered chan struct{}

	value   []byte
	release chan struct{}
	once    sync.Once
}

// NewBlockingState returns a BlockingState whose Gets answer value once
// released, with room in Entered for entered Gets.
func NewBlockingState(value []byte, entered int) *BlockingState {
	return &BlockingState{Entered: make(chan struct{}, entered), value: value, release: make(chan struct{})}
}

// Get reports on Entered, waits until Release and returns value, found.
func (b *BlockingState) Get([]byte) ([]byte, bool, error) {
	b.Entered <- struct{}{}
	<-b.release
	return b.value, true, nil
}

// MayBlock says Get blocks (state.Blocking): no dispatch mode of package
// handler runs it on an event loop.
func (b *BlockingState) MayBlock() bool { return true }

// Release lets every Get, waiting or to come, answer (idempotent).
func (b *BlockingState) Release() { b.once.Do(func() { close(b.release) }) }
