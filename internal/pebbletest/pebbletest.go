package pebbletest

import (
	"errors"
	"strings"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// OnSSTRead returns a vfs.FS over the real disk (vfs.Default) that calls
// hook before each read of an sstable file (*.sst); an error hook returns
// fails that read with it. A hook that blocks holds the read.
func OnSSTRead(hook func() error) vfs.FS {
	return errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind.ReadOrWrite() == errorfs.OpIsRead && strings.HasSuffix(op.Path, ".sst") {
			return hook()
		}
		return nil
	}))
}

// ErrRead is the error a read of FailingReads fails with.
var ErrRead = errors.New("injected: input/output error")

// FailingReads is a vfs.FS over the real disk whose sstable reads fail
// with ErrRead while Fail is set. Create it with NewFailingReads.
type FailingReads struct {
	vfs.FS
	Fail atomic.Bool
}

// NewFailingReads returns a FailingReads whose reads do not fail yet.
func NewFailingReads() *FailingReads {
	f := &FailingReads{}
	f.FS = OnSSTRead(func() error {
		if f.Fail.Load() {
			return ErrRead
		}
		return nil
	})
	return f
}
